"""Event hooks: a configured shell command per session event, never blocking a flow."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # asyncio is imported when a hook runs: a CLI action without hooks needs none
    import asyncio

EVENTS = ("start", "pause", "resume", "extend", "complete", "abandon", "expire")


@dataclass(frozen=True, slots=True)
class HookResult:
    event: str
    command: str
    returncode: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.returncode == 0

    def describe(self) -> str:
        if self.error:
            return f"{self.event} hook failed: {self.error}"
        return f"{self.event} hook exited with status {self.returncode}"


class HookRunner:
    """Runs hooks as background tasks; `drain()` waits for them (the CLI before exit).

    The session is passed as JSON in `FOCUS_SESSION` and the event name in `FOCUS_EVENT`.
    A failing hook is reported through `on_failure`; it never raises into the caller.
    """

    def __init__(
        self,
        commands: dict[str, str],
        timeout: float = 10.0,
        on_failure: Callable[[HookResult], None] | None = None,
    ) -> None:
        self.commands = {k: v for k, v in commands.items() if k in EVENTS and v.strip()}
        self.timeout = timeout
        self.on_failure = on_failure
        self._tasks: set[asyncio.Task[HookResult]] = set()
        self.results: list[HookResult] = []

    def fire(self, event: str, payload: dict[str, Any]) -> None:
        command = self.commands.get(event)
        if not command:
            return
        import asyncio

        task = asyncio.get_running_loop().create_task(self._run(event, command, payload))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[HookResult]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        result = task.result()
        self.results.append(result)
        if not result.ok and self.on_failure is not None:
            self.on_failure(result)

    async def _run(self, event: str, command: str, payload: dict[str, Any]) -> HookResult:
        import asyncio

        env = os.environ | {"FOCUS_EVENT": event, "FOCUS_SESSION": json.dumps(payload)}
        try:
            proc = await asyncio.create_subprocess_shell(
                command,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            return HookResult(event, command, None, str(exc))
        try:
            _, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return HookResult(event, command, None, f"timed out after {self.timeout:g}s")
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()
            detail = f": {tail[-1]}" if tail else ""
            return HookResult(
                event, command, proc.returncode, f"exited with status {proc.returncode}{detail}"
            )
        return HookResult(event, command, 0)

    async def drain(self) -> None:
        if self._tasks:
            import asyncio

            await asyncio.gather(*list(self._tasks), return_exceptions=True)
