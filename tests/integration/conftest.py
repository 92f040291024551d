"""conftest.py: fixtures that start starlingd on free loopback ports and always stop it."""

import pytest

from starling import Server, StartError


def pytest_configure(config):
    config.addinivalue_line("markers", "own_server: the test starts its own server(s)")


def _start(options, **kwargs):
    srv = Server(options, **kwargs)
    try:
        srv.start()
    except StartError as e:
        srv.cleanup()
        pytest.fail(str(e), pytrace=False)
    return srv


def _finish(srv):
    """Stops the server; fails (in teardown) on a bad exit code or a sanitizer report."""
    try:
        problems = srv.stop()
    finally:
        srv.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def server(request):
    """One server for the whole test module. A module may set SERVER_OPTIONS = {key: value}
    (extra -o overrides) at its top level."""
    srv = _start(getattr(request.module, "SERVER_OPTIONS", {}))
    yield srv
    _finish(srv)


def _factory():
    """A server factory and the list of servers it made (for _finish_all)."""
    made = []

    def factory(options=None, **kwargs):
        # kwargs go to starling.Server (e.g. host="127.0.0.2", prepare=fn).
        srv = _start(options or {}, **kwargs)
        made.append(srv)
        return srv

    return factory, made


def _finish_all(made):
    errors = []
    for srv in made:
        try:
            _finish(srv)
        except pytest.fail.Exception as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def make_server():
    """Factory for function-scoped servers: make_server({key: value}) -> started Server.
    Every server it made is stopped (and checked) at the end of the test, also on failure."""
    factory, made = _factory()
    yield factory
    _finish_all(made)


@pytest.fixture(scope="module")
def make_module_server():
    """Like make_server, for servers shared by a whole test module (stopped and checked after
    its last test)."""
    factory, made = _factory()
    yield factory
    _finish_all(made)
