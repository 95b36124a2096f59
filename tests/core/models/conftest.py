"""Fixtures of the registry tests; the things themselves are made in helpers.py."""
import pytest

from tests.core.models.helpers import make_lora_adapter, openai_server


@pytest.fixture(scope="session")
def lora_adapter(shared_models_dir, tmp_path_factory):
    return make_lora_adapter(shared_models_dir, tmp_path_factory.mktemp("adapter") / "support-lora")


@pytest.fixture
def endpoint_url():
    with openai_server() as url:
        yield url
