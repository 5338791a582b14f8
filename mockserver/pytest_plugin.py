"""pytest fixtures for the fake Ollama: a real server on a loopback port, and an SDK client.

Installed with the package as the ``portway`` plugin (entry point ``pytest11``), so nothing to
import: just use the fixtures::

    # test_my_app.py
    def test_my_app_counts_tokens(openai_client):
        reply = openai_client.chat.completions.create(
            model="gpt-oss:20b", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.usage.prompt_tokens == 68  # what Ollama would count, to the token

    def test_my_app_against_the_url(ollama_fake_url):
        app = MyApp(base_url=ollama_fake_url)  # "http://127.0.0.1:<port>/v1"
        ...

Fixtures:

- ``ollama_fake`` (session): the running :class:`mockserver.server.BackgroundServer`; ``.url``
  is the native API (``/api/chat`` ...), ``.openai_url`` the ``/v1`` base URL, ``.app.state``
  the engine and settings.
  ``.journal`` lists the test's requests and answers (:mod:`mockserver.journal`: ``.last``,
  ``.entries``, each with ``body``, ``messages``, ``prompt``, ``prompt_tokens``,
  ``completion_tokens``, ``status``, ``response``); ``with ollama_fake.rules([...]):`` answers
  by scenario rules (:mod:`mockserver.scenarios`) inside the block. The journal is emptied and
  added rules removed around every test.
- ``ollama_rules``: the session's :class:`mockserver.scenarios.Scenario`; ``.add(rule)`` adds
  rules for this test only.
- ``ollama_fake_url`` (session): ``ollama_fake.openai_url``.
- ``openai_client``: an ``openai.OpenAI`` pointed at the fake (``api_key="ollama"``,
  ``max_retries=0``), closed after the test.
- ``portway_settings`` (session): the :class:`mockserver.config.Settings` the fake starts with.
  Override it in a ``conftest.py`` for anything the options below do not cover (it must stay
  session-scoped)::

      @pytest.fixture(scope="session")
      def portway_settings(portway_settings):
          return dataclasses.replace(portway_settings, num_ctx=2048, faults=("busy",))

Options (command line, or the ini key in ``pytest.ini`` / ``[tool.pytest.ini_options]``; the
command line wins):

- ``--portway-models=A,B`` / ``portway_models``: the models the fake has pulled (default: the
  lab's table models).
- ``--portway-seed=N`` / ``portway_seed``: seed for ids and timestamps (default 0; ``none``:
  random, as Ollama).
- ``--portway-date=YYYY-MM-DD`` / ``portway_date``: the server's date (default 2026-01-01, so
  that gpt-oss counts, whose prompt carries the date, do not drift; ``today``: the real date).
- ``--portway-num-ctx=N`` / ``portway_num_ctx``: the context window (default: Ollama's).
- ``--portway-replay=DIR`` / ``portway_replay``: answer recorded requests from DIR (see
  :mod:`mockserver.replay`); an ini path is relative to the rootdir.
- ``--portway-replay-strict`` / ``portway_replay_strict``: unrecorded POSTs fail with 404.
- ``--portway-replay-speed=X`` / ``portway_replay_speed``: play recorded timing X times faster
  (default 1; 0: no delays).
- ``--portway-scenario=FILE`` / ``portway_scenario``: scenario rules for the whole session.
- ``--portway-journal=N`` / ``portway_journal``: how many requests the journal keeps (default
  200; 0: off).

The fake starts on first use of a fixture, once per session, on a free port (whatever port the
settings name), and stops at the end. Imports are deferred so that the plugin costs nothing in
sessions that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import openai

    from mockserver.config import Settings
    from mockserver.server import BackgroundServer

DEFAULT_SEED = 0
DEFAULT_JOURNAL = 200
DEFAULT_DATE = "2026-01-01"  # the day the seeded clock is frozen at (mockserver.identity)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("portway", "Portway fake Ollama (fixtures ollama_fake, openai_client)")
    options: list[tuple[str, str, str]] = [
        ("models", "comma-separated models the fake has pulled (default: the table models)", ""),
        ("seed", "seed for repeatable ids and timestamps; 'none' for random", str(DEFAULT_SEED)),
        ("date", "the fake's date, YYYY-MM-DD, or 'today'", DEFAULT_DATE),
        ("num-ctx", "context window of the fake (default: Ollama's)", ""),
        ("replay", "replay recorded exchanges from this directory", ""),
        ("replay-speed", "play recorded timing X times faster (0: no delays)", "1"),
        ("scenario", "answer by the rules in this YAML/JSON file", ""),
        ("journal", "how many requests the journal keeps (0: off)", str(DEFAULT_JOURNAL)),
    ]
    for name, help_text, default in options:
        ini = f"portway_{name.replace('-', '_')}"
        group.addoption(f"--portway-{name}", dest=ini, default=None, help=f"{help_text} [{ini}]")
        parser.addini(ini, help_text, default=default)
    group.addoption(
        "--portway-replay-strict",
        dest="portway_replay_strict",
        action="store_true",
        default=None,
        help="with a replay directory: POSTs that were not recorded get 404",
    )
    parser.addini("portway_replay_strict", "unrecorded POSTs get 404 when replaying", type="bool")


def _option(config: pytest.Config, name: str) -> tuple[str, bool]:
    """The value of an option and whether it came from the command line."""
    given = config.getoption(name)
    if given is not None:
        return str(given).strip(), True
    return str(config.getini(name) or "").strip(), False


def settings_from_config(config: pytest.Config) -> Settings:
    """The fake's :class:`Settings` from the ``--portway-*`` options and ``portway_*`` ini keys."""
    from mockserver.config import Settings

    models, _ = _option(config, "portway_models")
    seed, _ = _option(config, "portway_seed")
    day, _ = _option(config, "portway_date")
    num_ctx, _ = _option(config, "portway_num_ctx")
    replay, from_cli = _option(config, "portway_replay")
    speed, _ = _option(config, "portway_replay_speed")
    scenario, scenario_from_cli = _option(config, "portway_scenario")
    journal, _ = _option(config, "portway_journal")
    strict = config.getoption("portway_replay_strict")
    if strict is None:
        strict = bool(config.getini("portway_replay_strict"))
    extra: dict[str, Any] = {}
    if models:
        extra["models"] = tuple(n.strip() for n in models.replace(" ", ",").split(",") if n.strip())
    try:
        return Settings(
            port=0,
            seed=None if seed.lower() in ("", "none") else int(seed),
            current_date=None if day.lower() in ("", "today") else day,
            num_ctx=int(num_ctx) if num_ctx else 0,
            replay_dir=_replay_dir(config, replay, from_cli),
            replay_strict=bool(strict),
            replay_speed=float(speed or 1),
            scenario=_replay_dir(config, scenario, scenario_from_cli),
            journal=int(journal or 0),
            **extra,
        )
    except ValueError as exc:
        raise pytest.UsageError(f"portway: {exc}") from None


def _replay_dir(config: pytest.Config, value: str, from_cli: bool) -> str | None:
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() if from_cli else config.rootpath) / path
    return str(path)


@pytest.fixture(scope="session")
def portway_settings(pytestconfig: pytest.Config) -> Settings:
    """The settings the session's fake starts with; override to change them."""
    return settings_from_config(pytestconfig)


@pytest.fixture(scope="session")
def ollama_fake(portway_settings: Settings) -> Iterator[BackgroundServer]:
    """The fake Ollama, serving on a free loopback port for the whole session."""
    import dataclasses

    from mockserver.server import serving

    settings = portway_settings
    if settings.port != 0:  # a fixed port would collide with a real Ollama or a parallel run
        settings = dataclasses.replace(settings, port=0)
    with serving(settings) as server:
        yield server


@pytest.fixture(autouse=True)
def _portway_per_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that uses the fake starts with an empty journal and leaves no rules behind."""
    server = (
        request.getfixturevalue("ollama_fake") if "ollama_fake" in request.fixturenames else None
    )
    if server is not None and server.app.state.journal is not None:
        server.journal.clear()
    yield
    if server is not None:
        server.scenario.clear_added()
        if server.app.state.journal is not None:
            server.journal.clear()


@pytest.fixture
def ollama_rules(ollama_fake: BackgroundServer):
    """Add scenario rules for this test: ``ollama_rules.add({"match": ..., "reply": ...})``;
    they answer before the session's own and are gone after the test."""
    return ollama_fake.scenario


@pytest.fixture(scope="session")
def ollama_fake_url(ollama_fake: BackgroundServer) -> str:
    """The fake's OpenAI base URL, ``http://127.0.0.1:<port>/v1``."""
    return ollama_fake.openai_url


@pytest.fixture
def openai_client(ollama_fake_url: str) -> Iterator[openai.OpenAI]:
    """An ``openai.OpenAI`` client pointed at the fake (no retries, so failures show at once)."""
    import openai

    client = openai.OpenAI(base_url=ollama_fake_url, api_key="ollama", max_retries=0)
    try:
        yield client
    finally:
        client.close()
