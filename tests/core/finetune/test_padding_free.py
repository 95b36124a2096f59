"""Padding-free batches compute the same loss and gradients as the stock masked path, with less work:
attention inside each example only, and the vocabulary projection only where a token is trained."""
import pytest
import torch
from transformers import AutoModelForCausalLM

from core.finetune import attention
from core.finetune.train import IGNORE, padding_free_collator, trained_positions_only
from core.models import bundled


EXAMPLES = ((40, 12), (130, 30), (25, 25), (70, 9))  # (tokens, prompt tokens left untrained)


@pytest.fixture(scope="module")
def examples():
    generator = torch.Generator().manual_seed(0)
    made = []
    for length, prompt in EXAMPLES:
        ids = torch.randint(100, 40_000, (length,), generator=generator).tolist()
        made.append({"input_ids": ids, "labels": [IGNORE] * prompt + ids[prompt:]})
    return made


@pytest.fixture(scope="module")
def folder(shared_models_dir):
    return shared_models_dir / bundled.CHAT_MODEL.name


def _model(folder, implementation):
    torch.set_grad_enabled(True)  # this thread may come from a test that generated text with grad turned off
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=implementation, use_safetensors=True)
    model.train()
    model.config.use_cache = False
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    weight = model.model.layers[0].self_attn.q_proj.weight  # the gradient flows back through every layer to it
    weight.requires_grad_(True)
    return model, weight


def _each_alone(folder, examples):
    """The ground truth: every example run on its own, the loss summed over all trained tokens."""
    model, weight = _model(folder, "sdpa")
    total, count = 0.0, 0
    for example in examples:
        logits = model(input_ids=torch.tensor([example["input_ids"]])).logits[0, :-1]
        targets = torch.tensor(example["labels"][1:])
        trained = targets != IGNORE
        total = total + torch.nn.functional.cross_entropy(logits[trained], targets[trained], reduction="sum")
        count += int(trained.sum())
    loss = total / count
    loss.backward()
    return loss.item(), weight.grad.clone()


def _packed(folder, implementation, inputs):
    model, weight = _model(folder, implementation)
    loss = model(**inputs).loss
    loss.backward()
    return loss.item(), weight.grad.clone()


def test_examples_attend_only_inside_themselves_and_train_as_if_alone(folder, examples):
    batch = padding_free_collator()(examples)
    assert batch["input_ids"].shape[0] == 1 and batch["cu_seq_lens_q"].tolist() == [0, 40, 170, 195, 265]
    reference_loss, reference_grad = _each_alone(folder, examples)
    loss, grad = _packed(folder, attention.register(), batch)
    assert loss == pytest.approx(reference_loss, abs=1e-5)
    assert torch.allclose(grad, reference_grad, atol=1e-7, rtol=1e-3)
    # Fewer logits, same loss: only the positions whose next token is trained are projected.
    narrowed = trained_positions_only(batch)
    assert narrowed["logits_to_keep"].numel() == sum(length - prompt for length, prompt in EXAMPLES)
    loss, grad = _packed(folder, attention.register(), narrowed)
    assert loss == pytest.approx(reference_loss, abs=1e-5)
    assert torch.allclose(grad, reference_grad, atol=1e-7, rtol=1e-3)


def test_a_row_whose_examples_see_each_other_would_be_caught(folder, examples):
    """The comparison above can fail: the same row without its boundaries trains a different loss."""
    batch = padding_free_collator()(examples)
    reference_loss, _ = _each_alone(folder, examples)
    loss, _ = _packed(folder, "sdpa", {"input_ids": batch["input_ids"], "labels": batch["labels"]})
    assert abs(loss - reference_loss) > 1e-2


def test_padded_batches_keep_the_stock_path():
    inputs = {"input_ids": torch.ones(2, 5, dtype=torch.long), "labels": torch.ones(2, 5, dtype=torch.long),
              "attention_mask": torch.ones(2, 5, dtype=torch.long)}
    assert trained_positions_only(inputs) is inputs
