"""The console is a separate program, so it carries its own copy of the server's vocabularies
(for its types and translations; the channels it reads from the hub). This keeps the copy
honest: a value added on one side and not the other fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from crm_core.vocabularies import CONVERSATION_STATUSES, DEAL_STAGES, PRIORITIES, ROLES, TICKET_STATUSES
from nlp.labels import INTENTS

TYPES = Path(__file__).resolve().parents[1] / "web" / "src" / "types.ts"


def console_list(name: str) -> tuple[str, ...]:
    found = re.search(rf"export const {name} = (\[[^\]]*\]) as const", TYPES.read_text())
    assert found, f"{name} is not in web/src/types.ts"
    return tuple(ast.literal_eval(found.group(1)))


@pytest.mark.parametrize(
    ("name", "server"),
    [
        ("ROLES", ROLES),
        ("STATUSES", CONVERSATION_STATUSES),
        ("PRIORITIES", PRIORITIES),
        ("INTENTS", INTENTS),
        ("DEAL_STAGES", DEAL_STAGES),
        ("TICKET_STATUSES", TICKET_STATUSES),
    ],
)
def test_the_console_lists_the_server_vocabulary(name, server):
    assert console_list(name) == tuple(server)
