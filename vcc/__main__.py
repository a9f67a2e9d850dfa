from vcc.cli import main

main()
