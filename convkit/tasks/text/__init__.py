"""The text task (``python -m convkit.tasks.text``): Kim 2014's TextCNN (rand, static,
non-static, multichannel) and a character CNN for sentence classification; see ``task.py``."""
