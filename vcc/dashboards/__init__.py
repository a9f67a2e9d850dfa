"""The Streamlit dashboards' logic (the pages themselves live in ``dashboards/``): who sees what
(:mod:`.scope`), etcd's live state (:mod:`.live`), the tailed event logs (:mod:`.floor`), the
warehouse cut to a scope (:mod:`.data`) and the tables pages show (:mod:`.views`, :mod:`.wallboard`).
Documented in docs/dashboards.md."""
