"""The Docker SDK for Python against a drayd (DOCKER_HOST): one case per invocation.

Usage: python3 python_sdk.py CASE   (exit 0 and "ok CASE" when the case passes)
Driven by python-sdk.test.ts, which starts the drayd and busybox. Every case removes what it made.
"""
import io
import sys
import tarfile
import time

import docker
from docker.errors import APIError, ContainerError, NotFound

client = docker.from_env(timeout=60)
IMAGE = "busybox"


def until(pred, what, seconds=15.0):
    end = time.time() + seconds
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out: " + what)


def eq(a, b, what=""):
    assert a == b, "%s: %r != %r" % (what, a, b)


def cleanup(*containers):
    for c in containers:
        try:
            c.remove(force=True)
        except NotFound:
            pass


def case_version():
    assert client.ping()
    v = client.version()
    assert "dray" in v["Version"], v
    info = client.info()
    eq(info["LoggingDriver"], "json-file", "logging driver")


def case_run_output():
    # containers.run() reads the output through logs, which it does for json-file only.
    eq(client.containers.run(IMAGE, ["sh", "-c", "echo hello; echo err >&2"], remove=True), b"hello\n", "stdout")
    both = client.containers.run(IMAGE, ["sh", "-c", "echo hello; echo err >&2"], stderr=True, remove=True)
    eq(sorted(both.decode().split()), ["err", "hello"], "stdout and stderr")
    try:
        client.containers.run(IMAGE, ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
        raise AssertionError("no ContainerError")
    except ContainerError as e:
        eq(e.exit_status, 3, "exit status")
    eq(client.containers.list(all=True), [], "remove=True removed them")
    c = client.containers.run(IMAGE, ["echo", "x"], detach=True, log_config={"type": "none"})
    try:
        c.wait()
        try:
            c.logs()
            raise AssertionError("logs of a none driver")
        except APIError as e:
            assert "configured logging driver does not support reading" in str(e), e
    finally:
        cleanup(c)


def case_healthcheck():
    c = client.containers.run(IMAGE, ["sleep", "600"], detach=True,
                              healthcheck={"test": ["CMD-SHELL", "echo probing"], "interval": 200 * 1000000, "retries": 2})
    bad = client.containers.run(IMAGE, ["sleep", "600"], detach=True,
                                healthcheck={"test": ["CMD", "false"], "interval": 200 * 1000000, "retries": 2})
    try:
        def status(x):
            x.reload()
            return x.attrs["State"].get("Health", {}).get("Status")
        eq(status(c) in ("starting", "healthy"), True, "starts as starting")
        until(lambda: status(c) == "healthy", "healthy")
        h = c.attrs["State"]["Health"]
        eq(h["FailingStreak"], 0, "streak")
        eq(h["Log"][-1]["ExitCode"], 0, "exit code")
        eq(h["Log"][-1]["Output"], "probing\n", "output")
        until(lambda: status(bad) == "unhealthy", "unhealthy")
        assert bad.attrs["State"]["Health"]["FailingStreak"] >= 2
        if hasattr(c, "health"):  # SDK 6.1+
            eq(c.health, "healthy", "Container.health")
        ids = [x.id for x in client.containers.list(filters={"health": "unhealthy"})]
        eq(ids, [bad.id], "health filter")
    finally:
        cleanup(c, bad)


def case_logs():
    c = client.containers.run(IMAGE, ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done; echo oops >&2"], detach=True)
    try:
        streamed = b"".join(c.logs(stream=True, follow=True))
        eq(streamed, b"line1\nline2\nline3\noops\n", "follow")
        eq(c.wait()["StatusCode"], 0, "exit")
        eq(c.logs(stderr=False), b"line1\nline2\nline3\n", "stdout only")
        eq(c.logs(tail=1), b"oops\n", "tail")
        stamped = c.logs(timestamps=True).decode().splitlines()
        assert stamped[0].endswith(" line1") and stamped[0][:4].isdigit(), stamped
    finally:
        cleanup(c)


def case_exec():
    c = client.containers.run(IMAGE, ["sleep", "600"], detach=True)
    try:
        r = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 2"])
        eq(r.exit_code, 2, "exit code")
        eq(sorted(r.output.decode().split()), ["err", "out"], "output")
        r = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
        eq(r.output, (b"out\n", b"err\n"), "demux")
        # A TTY goes through a terminal line discipline: \r\n, as Docker's.
        r = c.exec_run(["echo", "hi"], tty=True)
        eq(r.output, b"hi\r\n", "tty output")
        r = c.exec_run(["sh", "-c", "echo $FOO; pwd"], environment={"FOO": "bar"}, workdir="/tmp")
        eq(r.output, b"bar\n/tmp\n", "env and workdir")
        r = c.exec_run(["no-such-binary"])
        eq(r.exit_code, 127, "missing command")
    finally:
        cleanup(c)


def case_archive():
    c = client.containers.run(IMAGE, ["sleep", "600"], detach=True)
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = b"copied via the SDK\n"
            info = tarfile.TarInfo("f.txt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        eq(c.put_archive("/tmp", buf.getvalue()), True, "put_archive")
        eq(c.exec_run(["cat", "/tmp/f.txt"]).output, b"copied via the SDK\n", "copied in")
        bits, stat = c.get_archive("/tmp/f.txt")
        eq(stat["name"], "f.txt", "stat name")
        eq(stat["size"], 19, "stat size")
        got = tarfile.open(fileobj=io.BytesIO(b"".join(bits))).extractfile("f.txt").read()
        eq(got, b"copied via the SDK\n", "copied out")
    finally:
        cleanup(c)


def case_stats():
    c = client.containers.run(IMAGE, ["sh", "-c", "ping -c 2 -W 1 127.0.0.1 >/dev/null; sleep 600"], detach=True)
    try:
        s = c.stats(stream=False)
        for k in ("read", "preread", "cpu_stats", "precpu_stats", "memory_stats", "pids_stats", "blkio_stats", "networks"):
            assert k in s, "stats without %s: %s" % (k, sorted(s))
        assert s["pids_stats"]["current"] >= 1, s["pids_stats"]
        assert "eth0" in s["networks"], s["networks"]
        for k in ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets", "rx_errors", "tx_errors", "rx_dropped", "tx_dropped"):
            assert k in s["networks"]["eth0"], k
        assert s["memory_stats"]["usage"] > 0
        stream = c.stats(stream=True, decode=True)
        first = next(stream)
        second = next(stream)
        eq(second["precpu_stats"]["cpu_usage"]["total_usage"], first["cpu_stats"]["cpu_usage"]["total_usage"], "precpu is the previous reading")
        stream.close()
    finally:
        cleanup(c)


def case_networks():
    net = client.networks.create("pysdknet", driver="bridge")
    server = other = probe = None
    try:
        api = client.api
        created = api.create_container(
            IMAGE, ["sh", "-c", "echo pong > /tmp/p; exec httpd -f -p 80 -h /tmp"],
            host_config=api.create_host_config(network_mode="pysdknet"),
            networking_config=api.create_networking_config({"pysdknet": api.create_endpoint_config(aliases=["backend"])}))
        server = client.containers.get(created["Id"])
        server.start()
        other = client.containers.run(IMAGE, ["sh", "-c", "echo pang > /tmp/p; exec httpd -f -p 80 -h /tmp"], detach=True)
        net.connect(other, aliases=["late"])
        net.reload()
        eq(sorted(c.id for c in net.containers), sorted([server.id, other.id]), "network members")
        fetch = "for i in $(seq 30); do r=$(printf 'GET /p HTTP/1.0\\r\\n\\r\\n' | nc %s 80 2>/dev/null | tail -n 1); [ -n \"$r\" ] && echo $r && exit 0; sleep 0.1; done; exit 1"
        probe = client.containers.run(IMAGE, ["sleep", "600"], detach=True, network="pysdknet")
        eq(probe.exec_run(["sh", "-c", fetch % "backend"]).output, b"pong\n", "alias at create")
        eq(probe.exec_run(["sh", "-c", fetch % "late"]).output, b"pang\n", "alias at connect")
        net.disconnect(other)
        net.reload()
        eq([c.id for c in net.containers if c.id == other.id], [], "disconnected")
    finally:
        cleanup(*(c for c in (server, other, probe) if c))
        net.remove()


def case_kill_wait():
    c = client.containers.run(IMAGE, ["sleep", "600"], detach=True)
    try:
        c.kill()
        c.reload()
        eq(c.status, "exited", "status right after kill")
        eq(c.wait()["StatusCode"], 137, "SIGKILL exit code")
        c.start()
        c.reload()
        eq(c.status, "running", "restarted")
        c.stop(timeout=1)
        c.reload()
        eq(c.status, "exited", "status right after stop")
        w = client.containers.run(IMAGE, ["sh", "-c", "sleep 0.3; exit 5"], detach=True)
        eq(w.wait(timeout=10)["StatusCode"], 5, "wait")
        cleanup(w)
        t = client.containers.run(IMAGE, ["sh", "-c", 'trap "exit 7" USR1; while true; do sleep 0.05; done'], detach=True)
        time.sleep(0.2)
        t.kill(signal="SIGUSR1")
        eq(t.wait()["StatusCode"], 7, "signal delivered")
        cleanup(t)
    finally:
        cleanup(c)


if __name__ == "__main__":
    name = sys.argv[1]
    globals()["case_" + name]()
    print("ok " + name + " (docker SDK " + docker.__version__ + ")")
