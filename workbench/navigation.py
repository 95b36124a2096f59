"""Every page of the app, its section, and the permission it needs. The one list the entrypoint reads."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.governance.roles import Actor, Permission

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    url_path: str
    section: str
    icon: str
    permission: Permission | None  # None: every logged-in user

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file

    def allowed(self, actor: Actor) -> bool:
        return self.permission is None or actor.can(self.permission)


PAGES = (
    PageSpec("home.py", "Home", "home", "Workbench", ":material/home:", None),
    # Viewers get a read-only catalogue (names and sizes, no rows); annotators do not see datasets.
    PageSpec("data.py", "Data", "data", "Build", ":material/dataset:", Permission.VIEW_DASHBOARDS),
    PageSpec("models.py", "Models", "models", "Build", ":material/model_training:", Permission.VIEW_MODELS),
    PageSpec("prompts.py", "Prompts", "prompts", "Build", ":material/edit_note:", Permission.RUN_INFERENCE),
    PageSpec("compare.py", "Compare", "compare", "Build", ":material/compare:", Permission.RUN_INFERENCE),
    PageSpec("pipelines.py", "Pipelines", "pipelines", "Build", ":material/schema:", Permission.RUN_INFERENCE),
    PageSpec("finetune.py", "Fine-tune", "finetune", "Build", ":material/tune:", Permission.VIEW_DASHBOARDS),
    PageSpec("evaluate.py", "Evaluate", "evaluate", "Build", ":material/fact_check:", Permission.VIEW_MODELS),
    PageSpec("feedback.py", "Feedback", "feedback", "Build", ":material/reviews:", Permission.VIEW_DASHBOARDS),
    PageSpec("annotate.py", "Annotate", "annotate", "Workbench", ":material/rate_review:", Permission.ANNOTATE),
    PageSpec("events.py", "Events", "events", "Operate", ":material/receipt_long:", Permission.VIEW_EVENTS),
    PageSpec("kpi.py", "KPIs", "kpi", "Operate", ":material/monitoring:", Permission.VIEW_DASHBOARDS),
    PageSpec("monitoring.py", "Monitoring", "monitoring", "Operate", ":material/troubleshoot:", Permission.VIEW_DASHBOARDS),
    PageSpec("admin.py", "Admin", "admin", "Govern", ":material/admin_panel_settings:", Permission.MANAGE_USERS),
    PageSpec("account.py", "Account", "account", "Workbench", ":material/person:", None),
)


def page_by_url(url_path: str) -> PageSpec:
    return next(p for p in PAGES if p.url_path == url_path)
