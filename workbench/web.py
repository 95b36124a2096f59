"""The workbench's web server: the Streamlit app (workbench/app.py) plus the two login-cookie routes
(workbench/login_cookie.py). `workbench run` starts it with `streamlit run workbench/web.py`, which finds `app`."""
from streamlit.starlette import App

from workbench import login_cookie

login_cookie.routes_mounted = True
app = App("app.py", routes=login_cookie.routes())
