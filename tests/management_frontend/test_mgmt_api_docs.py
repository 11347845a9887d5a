"""``GET /docs`` on the management frontend: open like the probes, while every admin call keeps its token.

The page and its copy of the OpenAPI document (``/docs/openapi.json``) need
no token, so the page loads before the user has given one; Swagger UI's
*Authorize* button then sends ``Authorization: Bearer`` with *Try it out*.
The browser test does exactly that in a real chromium: a call refused with
401, then the token entered, then the same call answered 200.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from management_frontend.openapi import openapi_document
from tests.query_frontend import browser

TOKEN = "docs-test-token-0123456789"
OP = "#operations-default-get_all_applications"


async def test_page_and_document_are_open_when_a_token_is_set(make_settings, admin_factory) -> None:
    secured = await admin_factory(make_settings(admin_token=TOKEN))
    page = await secured.get("/docs")
    assert page.status == 200 and page.content_type == "text/html; charset=utf-8"
    assert 'data-spec-url="docs/openapi.json"' in page.text
    doc = await secured.get("/docs/openapi.json")
    assert doc.status == 200 and doc.content_type == "application/json"
    assert json.loads(doc.text) == json.loads(json.dumps(openapi_document()))
    assert (await secured.get("/docs/swagger-ui.css")).content_type == "text/css; charset=utf-8"
    assert (await secured.get("/admin/openapi.json")).status == 401  # the admin paths keep the token
    assert (await secured.get("/docs/missing.js")).status == 404
    assert (await secured.get("/docs/")).text == page.text  # redirected to /docs
    # The document tells Swagger UI how the token goes.
    schemes = openapi_document()["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer"}


async def test_the_404_points_to_the_page(admin) -> None:
    reply = await admin.get("/")
    assert reply.status == 404 and "GET /docs" in json.loads(reply.text)["cause"]


async def _status(b: browser.Browser, expected: str) -> None:
    cell = f"document.querySelector('{OP} .live-responses-table tbody .response-col_status')?.textContent"
    await b.wait_for(f"{cell} === {json.dumps(expected)}")


async def test_try_it_out_with_the_token_in_a_browser(make_settings, admin_factory, tmp_path: Path) -> None:
    secured: Any = await admin_factory(make_settings(admin_token=TOKEN))
    url = str(secured.http.make_url("/docs"))

    dom, console = await browser.dump_dom(url, tmp_path)
    for path in ("/admin/add_app", "/admin/get_all_applications", "/admin/ping", "/admin/set_selection_policy"):
        assert f'data-path="{path}"' in dom, path
    assert "btn authorize" in dom and console == [], console
    await browser.screenshot(url, tmp_path / "management-frontend-docs.png", tmp_path)

    async with browser.Browser(tmp_path) as b:
        await b.goto(url)
        await b.click(f"{OP} .opblock-summary-control")
        await b.click(f"{OP} .try-out__btn")
        await b.type_into(f"{OP} textarea.body-param__text", '{"verbose": false}')
        await b.click(f"{OP} .execute")
        await _status(b, "401")  # no token yet
        await b.click(".auth-wrapper .btn.authorize")
        await b.type_into("#auth-bearer-value", TOKEN)
        await b.js("document.querySelector('#auth-bearer-value').closest('form')"
                   ".querySelector('button.authorize').click()")
        await b.wait_for("document.querySelector('.modal-ux').textContent.includes('Logout')")
        await b.click(".modal-ux .btn-done")
        await b.click(f"{OP} .execute")
        await _status(b, "200")
        body = await b.js(f"document.querySelector('{OP} .live-responses-table tbody .response-col_description')"
                          ".textContent")
        assert "[]" in body  # no applications yet
        await b.png(tmp_path / "management-frontend-try-it-out.png")
    assert b.console == [], b.console
