"""A browser tab without a browser: one Streamlit session spoken over its own websocket protocol.

    tab = Tab("http://127.0.0.1:8501", cookie="lab_browser=abc")
    await tab.connect()
    run = await tab.rerun(page="dark_knowledge", query="T=4")    # like opening /dark_knowledge?T=4
    slider = tab.widget("Temperature T")
    await tab.rerun(widgets={slider.id: tab.slider_state(slider.id, 5.0)})
    await tab.close()

What the Streamlit frontend does, and only what the load test needs of it: the connect
(`/_stcore/stream`, subprotocol "streamlit", Origin and Cookie headers as a browser sends them),
a `rerun_script` BackMsg carrying the query string, the page and the widget states, the
fragment auto-reruns (`st.fragment(run_every=...)`: a timer per fragment, cleared when a full
run starts, as the frontend's App does), and the URL the app writes (`page_info_changed`).
Every element the server sends is kept as text with its arrival time (`tab.texts`), and the
widgets by label with their ids, so a scenario can find "Train both students" and follow a job.
The messages are Streamlit's own protobufs (`streamlit.proto`).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ContextInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FINISHED_OK = ForwardMsg.FINISHED_SUCCESSFULLY
FINISHED_ERROR = ForwardMsg.FINISHED_WITH_COMPILE_ERROR
TEXT_FIELDS = ("body", "text", "label")  # where an element keeps what a reader sees


@dataclass
class Widget:
    id: str
    kind: str        # the element type: "slider", "button", ...
    label: str
    disabled: bool
    element: object  # its protobuf


@dataclass
class RunResult:
    seconds: float           # send -> the full run's script_finished
    status: int              # FINISHED_OK or FINISHED_ERROR
    first_delta_s: float | None = None  # send -> the first element of that run


@dataclass
class Tab:
    base_url: str                        # http://127.0.0.1:PORT
    cookie: str | None = None            # the Cookie header of the websocket handshake
    texts: list = field(default_factory=list)       # (monotonic time, kind, text) of every element
    run_starts: list = field(default_factory=list)  # monotonic times the full script runs started
    exceptions: list = field(default_factory=list)  # exception texts the server showed
    widgets: dict = field(default_factory=dict)     # label -> Widget (the latest one drawn)
    pages: dict = field(default_factory=dict)       # url path -> page script hash (st.navigation)
    query: str = ""
    page: str = ""
    session_id: str = ""

    def __post_init__(self):
        self._ws = None
        self._reader = None
        self._timers: dict[str, asyncio.Task] = {}
        self._runs: dict[str, int] = {}          # script_run_id -> index of that full run
        self._full_runs = 0                      # full runs started so far
        self._finished: dict[int, tuple] = {}    # full-run index -> (time, status)
        self._first_delta: dict[int, float] = {}
        self._current = None                     # index of the full run in progress
        self._changed = asyncio.Event()
        self.closed_reason: str | None = None
        self.messages = 0
        self.bytes = 0

    # ------------------------------------------------------------------ connection

    async def connect(self, timeout: float = 60) -> None:
        host = self.base_url.split("://", 1)[1]
        headers = {"Origin": self.base_url, "User-Agent": "lab-protocol-load"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        self._ws = await websockets.connect(f"ws://{host}/_stcore/stream", subprotocols=["streamlit"],
                                            additional_headers=headers, max_size=None, open_timeout=timeout,
                                            ping_interval=None)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        for task in self._timers.values():
            task.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    # ------------------------------------------------------------------ sending

    def slider_state(self, widget_id: str, value: float) -> WidgetState:
        state = WidgetState(id=widget_id)
        state.double_array_value.data.append(float(value))
        return state

    def trigger(self, widget_id: str) -> WidgetState:
        return WidgetState(id=widget_id, trigger_value=True)

    async def _send(self, page: str | None, widgets: dict, fragment_id: str = "", auto: bool = False) -> None:
        if page is not None and page != self.page:
            self.page = page
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_name = self.page
        state.page_script_hash = self.pages.get(self.page, "")
        state.fragment_id = fragment_id
        state.is_auto_rerun = auto
        state.widget_states.widgets.extend(widgets.values())
        state.context_info.CopyFrom(ContextInfo(
            timezone="UTC", timezone_offset=0, locale="en-US", is_embedded=False, color_scheme="light",
            url=f"{self.base_url}/{self.page}" + (f"?{self.query}" if self.query else "")))
        await self._ws.send(msg.SerializeToString())

    async def rerun(self, page: str | None = None, query: str | None = None, widgets: dict | None = None,
                    timeout: float = 120) -> RunResult:
        """Run the script (a page load, a widget change, a click) and wait until that full run
        has finished (a run that ends in st.rerun() is followed to the run after it)."""
        if query is not None:
            self.query = query
        before = self._full_runs
        sent = time.monotonic()
        await self._send(page, widgets or {})
        deadline = sent + timeout
        while True:
            done = [i for i in self._finished if i >= before]
            if done:
                at, status = self._finished[min(done)]
                first = self._first_delta.get(min(done))
                return RunResult(at - sent, status, None if first is None else first - sent)
            if self.closed_reason is not None:
                raise ConnectionError(f"the server closed the connection: {self.closed_reason}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no finished script run within {timeout:.0f} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    def widget(self, label: str) -> Widget | None:
        return self.widgets.get(label)

    # ------------------------------------------------------------------ receiving

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                self.messages += 1
                self.bytes += len(data)
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg, time.monotonic())
                self._changed.set()
        except websockets.ConnectionClosed as e:
            self.closed_reason = f"code {e.code}"
        finally:
            if self.closed_reason is None:
                self.closed_reason = "closed"
            self._changed.set()

    def _handle(self, msg: ForwardMsg, now: float) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.session_id = msg.new_session.initialize.session_id or self.session_id
            if not msg.metadata.run.fragment_ids:  # a full run: the frontend drops its auto-rerun timers
                self._runs[msg.metadata.run.script_run_id] = self._current = self._full_runs
                self.run_starts.append(now)
                self._full_runs += 1
                for task in self._timers.values():
                    task.cancel()
                self._timers.clear()
        elif kind == "script_finished":
            index = self._runs.get(msg.metadata.run.script_run_id)
            if index is not None and msg.script_finished in (FINISHED_OK, FINISHED_ERROR):
                self._finished[index] = (now, msg.script_finished)
        elif kind == "delta":
            if self._current is not None and not msg.metadata.run.fragment_ids:
                self._first_delta.setdefault(self._current, now)
            if msg.delta.WhichOneof("type") == "new_element":
                self._element(msg.delta.new_element, now)
        elif kind == "navigation":
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            fid = msg.auto_rerun.fragment_id
            if fid in self._timers:
                self._timers[fid].cancel()
            self._timers[fid] = asyncio.get_running_loop().create_task(self._auto(fid, msg.auto_rerun.interval))
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                task = self._timers.pop(fid, None)
                if task is not None:
                    task.cancel()
        elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
            self.exceptions.append(msg.session_event.script_compilation_exception.message)

    def _element(self, element, now: float) -> None:
        kind = element.WhichOneof("type")
        if kind is None:
            return
        proto = getattr(element, kind)
        if kind == "exception":
            self.exceptions.append(f"{proto.type}: {proto.message}"[:500])
        text = " ".join(str(getattr(proto, f)) for f in TEXT_FIELDS
                        if f in proto.DESCRIPTOR.fields_by_name and getattr(proto, f))
        if kind == "alert":
            kind = f"alert-{proto.format}"  # ERROR=1, WARNING=2, INFO=3, SUCCESS=4
        if text:
            self.texts.append((now, kind, text))
        widget_id = getattr(proto, "id", "") if "id" in proto.DESCRIPTOR.fields_by_name else ""
        if widget_id and getattr(proto, "label", ""):
            self.widgets[proto.label] = Widget(widget_id, kind, proto.label, bool(getattr(proto, "disabled", False)),
                                               proto)

    async def _auto(self, fragment_id: str, interval: float) -> None:
        """A fragment's run_every timer: rerun just that fragment, as the frontend's setInterval does."""
        try:
            while True:
                await asyncio.sleep(interval)
                await self._send(None, {}, fragment_id=fragment_id, auto=True)
        except (asyncio.CancelledError, websockets.ConnectionClosed):
            pass
