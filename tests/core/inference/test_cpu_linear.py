"""oneDNN linear layers during generation: same results as PyTorch's path, scoped to inference, restored after."""
import threading

import pytest
import torch

from core.inference import cpu_linear, slots
from core.inference.cpu_linear import _linears, onednn_available, onednn_linears
from core.inference.generate import GenerationSettings, generate_chats
from core.models import bundled
from core.models.loading import load_causal_lm

pytestmark = pytest.mark.skipif(not onednn_available(), reason="this PyTorch has no oneDNN linear op")


@pytest.fixture(autouse=True)
def onednn_measured_faster(monkeypatch):
    """These tests are about the swap itself: take it as measured faster (whether it is depends on the machine)."""
    monkeypatch.setattr(cpu_linear, "onednn_pays", lambda model, rows=32: True)


def _patched(model) -> list[bool]:
    return ["forward" in m.__dict__ for m in model.modules() if type(m) is torch.nn.Linear]


def _small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8, bias=False))


def test_inside_the_scope_linears_give_the_same_results_and_leave_no_trace_after():
    model = _small_model()
    x = torch.randn(4, 5, 16)
    with torch.inference_mode():
        expected = model(x)
        with onednn_linears(model):
            assert all(_patched(model))
            got = model(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not any(_patched(model))


def test_with_autograd_on_the_layers_keep_pytorchs_path_and_train():
    model = _small_model()
    with onednn_linears(model):
        loss = model(torch.randn(3, 16)).square().sum()
        loss.backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0


def test_nested_and_concurrent_scopes_restore_only_when_the_last_leaves():
    model = _small_model()
    inside, release = threading.Event(), threading.Event()

    def other_user():
        with onednn_linears(model):
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other_user)
    thread.start()
    inside.wait(10)
    with onednn_linears(model):
        with onednn_linears(model):
            pass
        assert all(_patched(model))
    assert all(_patched(model))  # the other thread is still generating
    release.set()
    thread.join()
    assert not any(_patched(model))


def test_only_plain_float32_cpu_linears_are_taken():
    model = _small_model()
    model[2].to(torch.bfloat16)
    assert _linears(model) == [model[0]]


def test_the_choice_is_measured_once_per_shape_and_kept(monkeypatch):
    monkeypatch.undo()  # the real measurement, not the fixture's answer
    model = _small_model()
    first = cpu_linear.onednn_pays(model, rows=4)
    assert isinstance(first, bool)
    assert any(key[0] == 4 for key in cpu_linear._pays)
    assert cpu_linear.onednn_pays(model, rows=4) is first


def test_generation_answers_match_pytorchs_own_linear_path(shared_models_dir, monkeypatch):
    # The generic path (adapters, other architectures): keep the bundled Llama model off the lean one.
    monkeypatch.setattr(slots, "supports_slots", lambda model: False)
    model, tokenizer = load_causal_lm(bundled.store_path(shared_models_dir, bundled.CHAT_MODEL))
    chats = [[{"role": "user", "content": q}] for q in ("What is the capital of Japan?", "List four red fruits.")]
    settings = GenerationSettings(max_new_tokens=24, batch_size=2)
    during = []
    ours = generate_chats(model, tokenizer, chats, settings, progress=lambda done, total: during.append(all(_patched(model))))
    assert during == [True, True]  # the answers above came through oneDNN
    with torch.inference_mode():
        plain = []
        for messages in chats:
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            out = model.generate(**ids, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            plain.append(tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    assert [g.output for g in ours] == plain
    assert not any(_patched(model))  # the scope ended with the call
