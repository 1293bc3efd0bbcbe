"""roar's notebook front end: the lineage DAG viewer (an anywidget).

    import jupyter_ext
    jupyter_ext.show()                       # the active session
    jupyter_ext.show(notebook=True)          # this notebook's cells
    jupyter_ext.show(artifact="model.pkl")   # what led to one file

``%roar dag`` shows the same widget. The browser code (``static/``) is built from ``js/``.
"""

from jupyter_ext.widget import STATIC, DagWidget, show

__all__ = ["STATIC", "DagWidget", "show"]
