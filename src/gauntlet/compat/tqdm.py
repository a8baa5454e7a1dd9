"""tqdm internals (measured on tqdm 4.70.1).

``redirect_handlers``: ``tqdm.contrib.logging.logging_redirect_tqdm`` swaps the console's log
handlers for its own, which write through ``tqdm.write`` so a log line never lands inside a bar;
it does not return them, and their class ``_TqdmLoggingHandler`` is private. The progress bar
puts a filter on them while its bars are up. Test:
``tests/test_console.py::test_in_a_terminal_each_epoch_ends_as_one_bar_with_train_and_val_metrics``.
"""

from __future__ import annotations

import logging


def redirect_handlers(logger: logging.Logger) -> list[logging.Handler]:
    """The handlers of ``logger`` that ``logging_redirect_tqdm`` installed."""
    return [h for h in logger.handlers if type(h).__name__ == "_TqdmLoggingHandler"]
