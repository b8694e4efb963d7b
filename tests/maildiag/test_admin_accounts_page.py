"""``/admin/accounts`` in process: only an admin sees it (login redirect, else 404); add,
change the role, disable, delete and import through the page, each CSRF-protected and shown
in the page's audit with who made it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from maildiag.services import account_admin as admin
from tests.maildiag.test_reset_support import OLD_PASSWORD, Env, csrf_of, reset_env

ADMIN = "sjef@visma.example"
PAGE = "/admin/accounts"


async def _login(env: Env, address: str, client: httpx.AsyncClient | None = None) -> None:
    client = client or env.client
    data = {
        "csrf_token": await env.csrf("/login", client),
        "email": address,
        "password": OLD_PASSWORD,
    }
    response = await client.post("/login", data=data)
    assert response.status_code == 303, response.text


async def _post(env: Env, path: str, **data: str) -> httpx.Response:
    token = csrf_of((await env.client.get(PAGE)).text)
    return await env.client.post(f"{PAGE}/{path}", data={"csrf_token": token, **data})


async def test_only_an_admin_sees_the_page(tmp_path: Path) -> None:
    async with reset_env(tmp_path) as env:
        env.add_user(ADMIN, role="admin")
        env.add_user("stotte@visma.example", role="support")
        anonymous = await env.client.get(PAGE)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/login?next=%2Fadmin%2Faccounts"
        async with env.new_client() as support:
            await _login(env, "stotte@visma.example", support)
            assert (await support.get(PAGE)).status_code == 404
            refused = await support.post(f"{PAGE}/add", data={"address": "x@y.example"})
            assert refused.status_code in (403, 404)
        await _login(env, ADMIN)
        page = await env.client.get(PAGE)
        assert page.status_code == 200
        assert page.headers["Cache-Control"] == "no-store"


async def test_changes_through_the_page_are_audited_with_who_made_them(tmp_path: Path) -> None:
    async with reset_env(tmp_path) as env:
        env.add_user(ADMIN, role="admin")
        await _login(env, ADMIN)
        added = await _post(env, "add", address="ny@kunde-ok.example", role="support", lang="en")
        assert added.status_code == 200
        assert 'id="admin-notice"' in added.text
        assert (
            await _post(env, "add", address="ny@kunde-ok.example", role="user", lang="nb")
        ).status_code == 400
        assert (
            await _post(env, "change", address="ny@kunde-ok.example", change="role:admin")
        ).status_code == 200
        assert (
            await _post(env, "change", address="ny@kunde-ok.example", change="disable")
        ).status_code == 200
        mine = await _post(env, "change", address=ADMIN, change="delete")
        assert mine.status_code == 400  # not the signed-in account
        assert (
            await _post(env, "change", address="ny@kunde-ok.example", change="sudo")
        ).status_code == 400
        [row] = [r for r in admin.iter_accounts(env.svc) if r.email == "ny@kunde-ok.example"]
        assert (row.role, row.disabled, row.password_set) == ("admin", True, False)
        assert (
            await _post(env, "change", address="ny@kunde-ok.example", change="delete")
        ).status_code == 200
        trail = admin.audit_trail(env.svc)
        assert [(a.actor, a.action) for a in reversed(trail)] == [
            (ADMIN, "add"),
            (ADMIN, "role"),
            (ADMIN, "disable"),
            (ADMIN, "delete"),
        ]
        page = (await env.client.get(PAGE)).text
        assert page.count(f"<code>{ADMIN}</code>") >= 4  # who, in the page's audit table
        no_token = await env.client.post(f"{PAGE}/add", data={"address": "z@kunde-ok.example"})
        assert no_token.status_code == 403


async def test_import_upload_with_search_and_paging(tmp_path: Path) -> None:
    rows = "".join(f"bruker{i:03}@kunde-ok.example\n" for i in range(60)) + "ikke-en-adresse\n"
    async with reset_env(tmp_path) as env:
        env.add_user(ADMIN, role="admin")
        await _login(env, ADMIN)
        token = csrf_of((await env.client.get(PAGE)).text)
        files = {"file": ("kunder.csv", rows.encode(), "text/csv")}
        done = await env.client.post(f"{PAGE}/import", data={"csrf_token": token}, files=files)
        assert done.status_code == 200
        assert "lagt til 60, uendret 0, avvist 1" in done.text
        assert re.search(r"<li>[^<]*61[^<]*</li>", done.text)  # the bad line, by number
        again = await env.client.post(f"{PAGE}/import", data={"csrf_token": token}, files=files)
        assert len(list(admin.iter_accounts(env.svc))) == 61  # 60 and the admin
        assert "lagt til 0, uendret 60, avvist 1" in again.text
        forged = await env.client.post(f"{PAGE}/import", data={"csrf_token": "x.y"}, files=files)
        assert forged.status_code == 403
        second = await env.client.get(PAGE, params={"q": "bruker", "page": "2"})
        assert second.text.count("@kunde-ok.example</code>") == 10
        assert "bruker050@kunde-ok.example" in second.text
        assert f"<code>{ADMIN}</code>" not in second.text.split('id="audit-heading"')[0]
        assert [a.action for a in admin.audit_trail(env.svc)] == ["import", "import"]
