"""A real headless browser for the API-page tests: Debian's ``chromium``, never a downloaded one.

:func:`dump_dom` and :func:`screenshot` run it once per page (``--dump-dom``,
``--screenshot``) after the page rendered (virtual time); :class:`Browser`
drives one page over the DevTools protocol (clicks, typing, waiting for the
DOM) for what a one-shot run cannot do. Missing chromium skips locally and
fails under ``CI=true``. Console messages (CSP violations, script errors)
are captured from chromium's log.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.ci import skip_or_fail

_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
          "--disable-extensions", "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
          "--v=0", "--log-level=0")
_CONSOLE = re.compile(r":CONSOLE[^\]]*\] (.*)")


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        skip_or_fail("chromium is not installed (apt-get install -y chromium)")
    assert exe is not None
    return exe


def console_lines(log: str) -> list[str]:
    """The page's console messages in chromium's log."""
    return [m.group(1) for m in _CONSOLE.finditer(log)]


async def _run(args: list[str], tmp: Path, timeout: float = 60) -> tuple[str, str]:
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp)
    proc = await asyncio.create_subprocess_exec(
        chromium(), *_FLAGS, f"--user-data-dir={profile}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode(errors="replace"), err.decode(errors="replace")


async def dump_dom(url: str, tmp: Path) -> tuple[str, list[str]]:
    """The DOM once the page rendered (5 s of virtual time), and its console messages."""
    out, err = await _run(["--virtual-time-budget=5000", "--dump-dom", url], tmp)
    return out, console_lines(err)


async def screenshot(url: str, path: Path, tmp: Path) -> None:
    await _run(["--virtual-time-budget=5000", "--window-size=1280,1800", f"--screenshot={path}", url], tmp)
    assert path.stat().st_size > 10_000, "the screenshot is (nearly) empty"


class Browser:
    """One chromium page driven over the DevTools protocol (``async with Browser(tmp) as b``)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._ids = itertools.count(1)
        self.console: list[str] = []

    async def __aenter__(self) -> Browser:
        profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=self.tmp)
        self.proc = await asyncio.create_subprocess_exec(
            chromium(), *_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "--window-size=1280,1800", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert self.proc.stderr is not None
        ws_url = ""
        while not ws_url:
            line = (await asyncio.wait_for(self.proc.stderr.readline(), 30)).decode(errors="replace")
            if not line:
                raise AssertionError("chromium exited before its DevTools endpoint opened")
            if "DevTools listening on " in line:
                ws_url = line.split("DevTools listening on ", 1)[1].strip()
        self._log_task = asyncio.create_task(self._read_log())
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(ws_url, max_msg_size=0)
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        self.session = attached["sessionId"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await self.http.close()
        self.proc.terminate()
        await self.proc.wait()
        self._log_task.cancel()

    async def _read_log(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.console += console_lines(raw.decode(errors="replace"))

    async def send(self, method: str, session: bool = False, **params: Any) -> Any:
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        await self.ws.send_str(json.dumps(msg))
        while True:
            reply = json.loads((await asyncio.wait_for(self.ws.receive(), 30)).data)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", session=True, url=url)

    async def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", session=True, expression=expression, awaitPromise=True,
                                 returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15) -> Any:
        """Polls until the expression is truthy; returns its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.1)

    async def click(self, selector: str) -> None:
        await self.wait_for(f"document.querySelector({json.dumps(selector)}) !== null")
        await self.js(f"document.querySelector({json.dumps(selector)}).click()")

    async def type_into(self, selector: str, text: str) -> None:
        """Sets an input's or textarea's value as typing would (React sees the change)."""
        await self.wait_for(f"document.querySelector({json.dumps(selector)}) !== null")
        await self.js(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement : HTMLInputElement;
            Object.getOwnPropertyDescriptor(proto.prototype, "value").set.call(el, {json.dumps(text)});
            el.dispatchEvent(new Event("input", {{bubbles: true}}));
        }})()""")

    async def png(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", session=True, format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
