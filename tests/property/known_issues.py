"""Open core bugs found by the property and stateful tests (see /work/bugs-stateful.md).

Each open bug gets a predicate ``has_issue_<id>()`` that is ``True`` while the bug is
open (it runs the minimal repro), used as ``pytest.mark.xfail(has_issue_<id>(), ...,
strict=True)`` on the affected tests. Delete the predicate and its uses in the PR that
fixes the bug. None is open right now: S1-S7 are fixed on main.
"""

from __future__ import annotations
