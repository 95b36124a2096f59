"""LoRA / QLoRA fine-tuning: the config, the training entry a job process runs, pre-flight checks."""
