"""The registry's web UI: server-rendered pages (Jinja2, autoescaped) over glaas.service, the
DAG viewer's browser bundle (jupyter_ext/static, built by ``make widget``), nothing from a CDN."""
