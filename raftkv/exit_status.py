"""How every ``raftkv`` command ends: its exit status, and one-line usage errors.

One scheme for every command (``sim``, ``replay``, ``explore``, ``check``, ``bugs``):

* 0 (:data:`EXIT_OK`): every check passed;
* 1 (:data:`EXIT_VIOLATION`): a property was violated;
* 2 (:data:`EXIT_BAD_INPUT`): bad input or usage (an argument out of range, an
  unreadable file, a mistyped option), reported in one line naming it;
* 3 (:data:`EXIT_UNKNOWN`): no verdict (a checker's budget ran out).

2 is also what argparse exits with on a usage error, so the scheme holds for errors
found before a command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_UNKNOWN", "EXIT_VIOLATION", "OneLineArgumentParser"]

EXIT_OK = 0
EXIT_VIOLATION = 1
EXIT_BAD_INPUT = 2
EXIT_UNKNOWN = 3


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``prog: error: ...``) and exit
    with :data:`EXIT_BAD_INPUT`; ``--help`` still prints the whole usage."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
