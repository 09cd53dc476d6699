"""``agentrag keys ...``: create, list and revoke the API keys ``agentrag serve`` accepts.

Keys live hashed in the ``state`` store (see ``agentrag.ledger.keys``), so these
commands work on the same settings (``--data-dir``, ``--config``) as the server.
``create`` prints the key alone on its last line, so a script can take it with
``tail -n 1``; it is shown once and cannot be recovered.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from agentrag.cli_common import App, console, print_json, say, settings_for

if TYPE_CHECKING:
    from agentrag.ledger.keys import KeyStore

keys_app = App(help="API keys and tenants for `agentrag serve`.")


def _store() -> KeyStore:
    from agentrag.ledger.keys import open_keys

    return open_keys(settings_for(need_llm=False))


@keys_app.command("create")
def create_cmd(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="the customer this key acts for")],
    name: Annotated[str, typer.Option(help="a label to recognise the key by in `keys list`")] = "",
) -> None:
    """Create a key for a tenant; the key is printed once, alone on the last line."""
    store = _store()
    try:
        record, key = store.create(tenant, name)
    finally:
        store.close()
    say(f"created key {record.id} for tenant {record.tenant} (store it now: it is not shown again)", stderr=True)
    say(key)


@keys_app.command("list")
def list_cmd(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="only this tenant's keys")] = None,
    active: Annotated[bool, typer.Option("--active", help="leave out revoked keys")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List keys (ids, tenants, when created and revoked); never the keys themselves."""
    store = _store()
    try:
        keys = store.list_keys(tenant, include_revoked=not active)
    finally:
        store.close()
    if as_json:
        print_json(json.dumps([k.model_dump(mode="json") for k in keys]))
        return
    if not keys:
        say("no API keys" + (f" for tenant {tenant!r}" if tenant else ""))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table()
    table.add_column("id", no_wrap=True, min_width=12)  # whole: it is what `keys revoke` takes
    for header in ("tenant", "name", "created (UTC)", "revoked (UTC)"):
        table.add_column(header, overflow="fold")  # narrow terminals wrap, never cut
    for k in keys:
        when = [t.strftime("%Y-%m-%d %H:%M") if t else "" for t in (k.created_at, k.revoked_at)]
        table.add_row(*(Text(c) for c in (k.id, k.tenant, k.name, *when)))
    console().print(table)


@keys_app.command("revoke")
def revoke_cmd(
    key_id: Annotated[str, typer.Argument(help="the key's id from `keys list` (or the key itself)")],
) -> None:
    """Revoke a key: requests with it get 401 from then on, on every worker."""
    store = _store()
    try:
        record = store.revoke(key_id)
    finally:
        store.close()
    say(f"revoked key {record.id} of tenant {record.tenant}")
