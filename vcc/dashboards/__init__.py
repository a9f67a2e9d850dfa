"""The Streamlit dashboards' logic (the pages themselves live in ``dashboards/``): who sees what
(:mod:`.scope`), etcd's live state (:mod:`.live`), the tailed event logs (:mod:`.floor`), the
warehouse cut to a scope (:mod:`.data`) and the tables pages show (:mod:`.views`, :mod:`.wallboard`).
Documented in docs/dashboards.md."""

#: Environment variables ``vcc dashboard`` hands the Streamlit app (it has no arguments of its own).
ENV_CONFIG = "VCC_DASHBOARD_CONFIG"
ENV_RUN_DIR = "VCC_DASHBOARD_RUN_DIR"
