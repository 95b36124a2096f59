"""The workbench's domain: everything the app, the CLI and the tests call. Never imports streamlit."""
import os

# PyTorch's OpenMP threads sleep while they wait for work instead of spinning. On a machine whose cores are shared
# (the app, a job worker, a fine-tune and the server side by side), a spinning thread waits at every operation for
# a peer the OS has descheduled: on a 2-core Xeon at load average ~4, greedy decoding of the bundled model ran at
# 1.7-3.9 tokens/s with spinning threads and at 15-16 with sleeping ones (one thread: 15-17). It must be set before
# torch loads OpenMP, which is why it lives here; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
