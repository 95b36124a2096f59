"""Who may do what. Every mutating core function calls `require(actor, Permission.X)` first."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.errors import InvalidInput, PermissionDenied


class Role(str, Enum):
    ADMIN = "admin"
    DATA_SCIENTIST = "data_scientist"
    ANNOTATOR = "annotator"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @classmethod
    def parse(cls, value: str) -> "Role":
        try:
            return cls(value.strip().lower().replace("-", "_").replace(" ", "_"))
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise InvalidInput(f"'{value}' is not a role; choose one of {names}.") from None


ROLE_LABELS = {
    Role.ADMIN: "Admin",
    Role.DATA_SCIENTIST: "Data scientist",
    Role.ANNOTATOR: "Annotator",
    Role.VIEWER: "Viewer (manager)",
}


class Permission(str, Enum):
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT = "view_audit"
    VIEW_MODELS = "view_models"
    MANAGE_MODELS = "manage_models"
    VIEW_DATA_ROWS = "view_data_rows"
    MANAGE_DATA = "manage_data"
    RUN_INFERENCE = "run_inference"
    MANAGE_PROMPTS = "manage_prompts"
    LAUNCH_JOBS = "launch_jobs"
    ANNOTATE = "annotate"
    VIEW_DASHBOARDS = "view_dashboards"
    SEED_DEMO = "seed_demo"
    MANAGE_EVALUATIONS = "manage_evaluations"
    OVERRIDE_GATES = "override_gates"
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_DEPLOYMENTS = "manage_deployments"
    MANAGE_FEEDBACK = "manage_feedback"
    MANAGE_MONITORS = "manage_monitors"
    HANDLE_ALERTS = "handle_alerts"
    VIEW_EVENTS = "view_events"
    INGEST_EVENTS = "ingest_events"
    MANAGE_KPI_TARGETS = "manage_kpi_targets"


_DATA_SCIENTIST = {
    Permission.MANAGE_KPI_TARGETS,
    Permission.VIEW_MODELS,
    Permission.MANAGE_MODELS,
    Permission.VIEW_DATA_ROWS,
    Permission.MANAGE_DATA,
    Permission.RUN_INFERENCE,
    Permission.MANAGE_PROMPTS,
    Permission.LAUNCH_JOBS,
    Permission.MANAGE_EVALUATIONS,
    Permission.VIEW_DASHBOARDS,
    Permission.MANAGE_FEEDBACK,
    Permission.MANAGE_MONITORS,
    Permission.HANDLE_ALERTS,
    Permission.VIEW_EVENTS,
    Permission.INGEST_EVENTS,
    Permission.MANAGE_DEPLOYMENTS,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DATA_SCIENTIST: frozenset(_DATA_SCIENTIST),
    # Annotators rate blind: they see neither the model registry nor raw dataset rows.
    Role.ANNOTATOR: frozenset({Permission.ANNOTATE}),
    Role.VIEWER: frozenset({Permission.VIEW_MODELS, Permission.VIEW_DASHBOARDS, Permission.MANAGE_KPI_TARGETS}),
}


@dataclass(frozen=True)
class Actor:
    """The user on whose behalf a core function runs."""

    name: str
    role: Role
    user_id: int | None = None
    # The process acting for the user, when it is not the user themselves: "worker", "job:12", "login".
    via: str | None = None

    def acting_through(self, via: str) -> "Actor":
        return Actor(name=self.name, role=self.role, user_id=self.user_id, via=via)

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


# The CLI without --user: whoever can run commands on the machine already owns the workbench home.
LOCAL_OPERATOR = Actor(name="local-operator", role=Role.ADMIN)
# Start-up work (migrations, bundled models) done by the workbench itself.
SYSTEM = Actor(name="system", role=Role.ADMIN)

_ACTION_WORDS = {
    Permission.MANAGE_USERS: "manage users",
    Permission.VIEW_AUDIT: "read the audit log",
    Permission.VIEW_MODELS: "see the model registry",
    Permission.MANAGE_MODELS: "change the model registry",
    Permission.VIEW_DATA_ROWS: "see dataset rows",
    Permission.MANAGE_DATA: "import, change or export datasets",
    Permission.RUN_INFERENCE: "run models",
    Permission.MANAGE_PROMPTS: "save prompt templates and pipelines",
    Permission.LAUNCH_JOBS: "launch or cancel jobs",
    Permission.ANNOTATE: "rate model outputs",
    Permission.VIEW_DASHBOARDS: "see dashboards",
    Permission.SEED_DEMO: "seed demo data",
    Permission.MANAGE_EVALUATIONS: "create evaluation suites, runs and release gates",
    Permission.OVERRIDE_GATES: "override a failed release gate",
    Permission.MANAGE_API_KEYS: "manage API keys",
    Permission.MANAGE_DEPLOYMENTS: "create, promote or roll back deployments",
    Permission.MANAGE_FEEDBACK: "run annotation projects (create, review, export ratings)",
    Permission.MANAGE_MONITORS: "create, run or delete monitors",
    Permission.HANDLE_ALERTS: "acknowledge or resolve alerts",
    Permission.VIEW_EVENTS: "see inference events",
    Permission.INGEST_EVENTS: "log or ingest inference events",
    Permission.MANAGE_KPI_TARGETS: "set or remove KPI targets",
}


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise PermissionDenied(
            f"{actor.name} ({actor.role.label}) is not authorised to {_ACTION_WORDS[permission]}.",
            hint="Ask an admin for a role that allows it.",
        )
