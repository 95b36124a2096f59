from core.finetune.logview import readable_lines

RAW = (
    "2026-12-03 16:00:01 INFO core.jobs.run: job 7: attempt 1, pid 4242, devices []\n"
    "/work/.venv/lib/python3.11/site-packages/transformers/training_args.py:1604: FutureWarning: "
    "`evaluation_strategy` is deprecated and will be removed in version 4.46\n"
    "  warnings.warn(\n"
    "Map: 100%|\u2588\u2588\u2588\u2588\u2588\u2588| 27/27 [00:00<00:00, 900.12 examples/s]\n"
    "\x1b[32m  0%|          | 0/30 [00:00<?, ?it/s]\r 50%|\u2588\u2588\u2588\u2588\u2588     | 15/30 [00:40<00:40]\x1b[0m\n"
    "{'loss': 2.3411, 'grad_norm': 1.2, 'learning_rate': 0.0003, 'epoch': 0.1}\n"
    "{'eval_loss': 2.1034, 'eval_runtime': 3.2, 'epoch': 0.5}\n"
    "Saving model checkpoint to /runs/job-00007/checkpoints/checkpoint-10\n"
    "/work/.venv/lib/python3.11/site-packages/torch/utils/checkpoint.py:92: UserWarning: None of the inputs have "
    "requires_grad=True. Gradients will be None\n"
    "2026-12-03 16:02:22 ERROR core.jobs.run: job 7 failed: out of memory\n"
)


def test_steps_evaluations_checkpoints_and_warnings_that_matter_stay_library_noise_goes():
    view = readable_lines(RAW)
    text = view.text
    assert "FutureWarning" not in text and "warnings.warn(" not in text
    assert "%|" not in text and "\x1b" not in text and "\r" not in text
    for wanted in ("job 7: attempt 1", "'loss': 2.3411", "'eval_loss': 2.1034", "checkpoint-10",
                   "UserWarning: None of the inputs", "job 7 failed: out of memory"):
        assert wanted in text
    assert view.hidden == 4  # the warning, its source line, and two progress bars


def test_only_the_last_lines_are_kept_when_asked():
    raw = "\n".join(f"step {i}" for i in range(100))
    assert readable_lines(raw, last=5).lines == [f"step {i}" for i in range(95, 100)]
    assert len(readable_lines(raw, last=None).lines) == 100
