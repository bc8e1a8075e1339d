"""The installer dialogue engine against scripted installer consoles.

The replays (tests/fixtures/consoles/) play sysinst's and OpenBSD's installer
prompts as their sources print them; the tests assert the exact answers the
engine typed, in order, and how it fails on an error screen or a stall.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from harness.errors import ConfigError, GuestError, Timeout
from harness.images import dialogue
from harness.images.dialogue import (
    DIALOGUES_DIR,
    DialogueStalled,
    clean_screen,
    find_dialogue,
    install_conf_lines,
    load_dialogue,
    render_answer,
    render_install_conf,
    run_dialogue,
)
from harness.vm.console import Console
from harness.vm.timeouts import Timeouts
from tests.fakes.console_replay import Event, ReplayConsole, ReplayScript, ReplayServer, fixture

CONF_URL = "http://10.0.2.2:8080/install.conf"
PASSWORD = "Xyz-test-9"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTKEY trapline@test"
SERVER = "http://10.0.2.2:8080"
NETWORK_UP = "ifconfig vio0 inet 10.0.2.15 netmask 255.255.255.0 up; route -n add default 10.0.2.2; true"
VARIABLES = {"install_conf_url": CONF_URL, "root_password": PASSWORD, "authorized_key": KEY}

# Small enough that a stall test takes a fraction of a second.
FAST = Timeouts(installer_boot=0.2, installer_prompt=0.2, installer_sets=0.2, installer_total=5.0,
                provision_command=0.2, dialogue_poll=0.01, ddb_command=0.2)


def replay(name: str, tmp_path: Path, timeouts: Timeouts = FAST) -> ReplayConsole:
    return ReplayConsole(fixture(name), tmp_path / ("%s.transcript" % name), timeouts)


def step_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------- the files


def test_every_dialogue_file_loads_and_cites_a_listed_source():
    names = sorted(p.stem for p in DIALOGUES_DIR.glob("*.toml"))
    assert names == ["bsd-provision", "netbsd-sysinst", "openbsd-install"]
    for name in names:
        loaded = load_dialogue(DIALOGUES_DIR / ("%s.toml" % name))
        for step in (*loaded.steps, loaded.done):
            assert step.source.split(":", 1)[0] in loaded.sources, (name, step.name)


def test_the_builders_install_names_resolve_to_the_dialogue_files():
    assert find_dialogue("openbsd-autoinstall").name == "openbsd-install"
    assert find_dialogue("netbsd-sysinst").path == DIALOGUES_DIR / "netbsd-sysinst.toml"


def test_an_unknown_dialogue_name_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        find_dialogue("freebsd-bsdinstall")
    assert "freebsd-bsdinstall" in info.value.message
    assert "openbsd-install (openbsd-autoinstall)" in info.value.hint


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / ("%s.toml" % name)
    path.write_text(body)
    return path


_GOOD_HEAD = 'name = "x"\n[sources]\nsrc = "somewhere, rev 1"\n[done]\nprompt = "END"\nsource = "src: end"\n'


def test_a_step_with_an_unknown_timeout_names_file_step_and_choices(tmp_path):
    path = _write(tmp_path, "x", _GOOD_HEAD + '[[steps]]\nname = "first"\nprompt = "P"\nanswer = "a"\n'
                  'timeout = "forever"\nsource = "src: p"\n')
    with pytest.raises(ConfigError) as info:
        load_dialogue(path)
    assert str(path) in info.value.message and "(first)" in info.value.message and "'forever'" in info.value.message
    assert "installer_prompt" in info.value.hint


def test_a_step_citing_no_listed_source_is_rejected(tmp_path):
    path = _write(tmp_path, "x", _GOOD_HEAD + '[[steps]]\nname = "first"\nprompt = "P"\nanswer = "a"\n'
                  'source = "msg.mi.en: somewhere"\n')
    with pytest.raises(ConfigError, match=r"source key 'msg.mi.en' is not in \[sources\]"):
        load_dialogue(path)


def test_a_bad_regex_and_an_unknown_key_are_named(tmp_path):
    bad_regex = _write(tmp_path, "x", _GOOD_HEAD + '[[steps]]\nname = "first"\nprompt = "(unclosed"\n'
                       'answer = "a"\nsource = "src: p"\n')
    with pytest.raises(ConfigError, match=r"steps\[0\] \(first\) prompt: bad regex '\(unclosed'"):
        load_dialogue(bad_regex)
    unknown = _write(tmp_path, "x", _GOOD_HEAD + '[[steps]]\nname = "first"\nprompt = "P"\nanswer = "a"\n'
                     'source = "src: p"\nwait = 3\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) wait"):
        load_dialogue(unknown)


def test_a_dialogue_whose_name_differs_from_its_file_is_rejected(tmp_path):
    path = _write(tmp_path, "y", _GOOD_HEAD + '[[steps]]\nname = "first"\nprompt = "P"\nanswer = "a"\n'
                  'source = "src: p"\n')
    with pytest.raises(ConfigError, match=r"name 'x' must equal the file name's stem 'y'"):
        load_dialogue(path)


# ---------------------------------------------------------------- answers


def test_answers_fill_keys_match_groups_variables_and_literal_braces():
    loaded = find_dialogue("netbsd-sysinst")
    step = next(s for s in loaded.steps if s.name == "main-install")
    assert render_answer(loaded, step, {}, {"letter": "c"}) == "c\r"
    literal = step.__class__(name="t", prompt=re.compile("x"), answer="{{x}} {UP}{hostname}{CTRL_C}", source="s")
    assert render_answer(loaded, literal, {"hostname": "h1"}) == "{x} \x1b[Ah1\x03"


def test_a_missing_variable_fails_before_anything_is_typed(tmp_path):
    console = replay("openbsd-autoinstall-amd64", tmp_path)
    with pytest.raises(ConfigError, match=r"dialogue openbsd-install needs variable\(s\) install_conf_url"):
        run_dialogue("openbsd-install", console, variables={})
    assert console.sent == []


def test_clean_screen_turns_cursor_moves_into_line_breaks_and_drops_escapes():
    raw = "\x1b[H\x1b[2J\x1b[5;10H\x1b[1mTitle\x1b[m\x1b[7;12H\x1b[7m>a: Install\x1b[m\r\n"
    assert clean_screen(raw) == "\n\nTitle\n>a: Install\n"


# ---------------------------------------------------------------- happy paths


def test_openbsd_amd64_autoinstall_switches_the_loader_to_com0_and_gives_the_response_file(tmp_path):
    console = replay("openbsd-autoinstall-amd64", tmp_path)
    log = tmp_path / "steps.log"
    result = run_dialogue("openbsd-autoinstall", console, variables=VARIABLES, log=log)
    assert result.answered == [
        ("loader-serial", "set tty com0\r"),
        ("loader-boot", "\r"),
        ("choose-autoinstall", "a\r"),
        ("response-file", CONF_URL + "\r"),
    ]
    assert result.skipped == ["dhcp-interface", "install-or-upgrade"]
    assert console.received == fixture("openbsd-autoinstall-amd64").inputs()
    events = step_log(log)
    assert [e["event"] for e in events] == ["start", "answer", "answer", "answer", "skip", "answer", "skip", "done"]
    assert events[3]["prompt"] == "(I)nstall, (U)pgrade, (A)utoinstall or (S)hell? "
    assert events[-1]["prompt"].startswith("CONGRATULATIONS!")
    assert events[0]["transcript"] == str(console.transcript_path)


def test_openbsd_sparc64_autoinstall_skips_the_loader_steps(tmp_path):
    console = replay("openbsd-autoinstall-sparc64", tmp_path)
    result = run_dialogue("openbsd-install", console, variables=VARIABLES)
    assert result.answered == [("choose-autoinstall", "a\r"), ("response-file", CONF_URL + "\r")]
    assert result.skipped == ["loader-serial", "loader-boot", "dhcp-interface", "install-or-upgrade"]
    # The step log defaults to beside the transcript.
    assert result.log == tmp_path / "openbsd-autoinstall-sparc64.openbsd-install.steps.log"
    assert step_log(result.log)[-1]["event"] == "done"


def test_netbsd_sparc64_sysinst_picks_menu_items_by_their_text(tmp_path):
    console = replay("netbsd-sysinst-sparc64", tmp_path)
    result = run_dialogue("netbsd-sysinst", console, variables=VARIABLES)
    assert result.answered == [
        ("terminal-type", "\r"), ("language", "a\r"), ("main-install", "a\r"), ("confirm-install", "b\r"),
        ("disk", "a\r"), ("default-sizes", "b\r"), ("sizes-ok", "x\r"), ("last-chance", "b\r"),
        ("disk-setup-done", "\r"), ("distribution", "b\r"), ("install-from", "a\r"), ("extract-complete", "\r"),
        ("change-root-password", "d\r"), ("new-password", "<secret>"), ("retype-password", "<secret>"),
        ("enable-sshd", "g\r"), ("finished-configuring", "x\r"), ("install-complete", "\r"), ("reboot", "d\r"),
    ]
    assert result.skipped == ["keyboard", "only-disk", "partition-scheme", "disk-name", "root-password-confirm"]
    # The installer got the password; the step log did not.
    assert console.received == fixture("netbsd-sysinst-sparc64").inputs()
    assert console.received[13] == PASSWORD + "\r"
    assert PASSWORD not in result.log.read_text()


@pytest.mark.parametrize("name", ["netbsd-provision", "openbsd-provision"])
def test_provisioning_logs_in_and_runs_each_command_after_the_previous_ends(tmp_path, name):
    console = replay(name, tmp_path)
    variables = {**VARIABLES, "network_up": NETWORK_UP, "server_url": SERVER}
    result = run_dialogue(name, console, variables=variables)
    assert console.received == fixture(name).inputs()
    assert [step for step, _ in result.answered] == ["login", "password", "network", "fetch-script", "run-script"]
    assert result.answered[1] == ("password", "<secret>")
    assert result.answered[2][1] == NETWORK_UP + " && echo TRAPLINE_OK=$((0+1)) || echo TRAPLINE_FAILED=$?\r"
    assert result.answered[4][1].startswith("sh /tmp/trapline-provision.sh http://10.0.2.2:8080 && ")


def _inline_dialogue(tmp_path: Path, steps: str, done: str = "All done") -> dialogue.Dialogue:
    path = tmp_path / "inline.toml"
    path.write_text('name = "inline"\n[sources]\ns = "made up for this test"\n' + steps
                    + '[done]\nprompt = "%s"\nsource = "s: end"\n' % done)
    return load_dialogue(path)


def _inline_console(tmp_path: Path, *events: Event) -> ReplayConsole:
    script = ReplayScript(name="inline", description="", source="made up", chunk=3, events=events)
    return ReplayConsole(script, tmp_path / "inline.transcript", FAST)


_REPEAT_STEPS = (
    '[[steps]]\nname = "more"\nprompt = "Another set\\\\? "\nanswer = "y{ENTER}"\nrepeat = true\nsource = "s: a"\n'
    '[[steps]]\nname = "hostname"\nprompt = "Host name\\\\? "\nanswer = "{hostname}{ENTER}"\nsource = "s: b"\n'
    '[[steps]]\nname = "banner"\nprompt = "Banner\\\\? "\nanswer = "{ENTER}"\noptional = true\nsource = "s: c"\n'
)


def test_a_repeat_step_is_answered_each_time_until_the_next_prompt_shows(tmp_path):
    console = _inline_console(
        tmp_path,
        Event("output", "Another set? "), Event("input", "y\r"),
        Event("output", "y\r\nAnother set? "), Event("input", "y\r"),
        Event("output", "y\r\nAnother set? "), Event("input", "y\r"),
        Event("output", "y\r\nHost name? "), Event("input", "h1\r"),
        # The optional banner question never comes: done shows first.
        Event("output", "h1\r\nAll done\r\n"),
    )
    result = run_dialogue(_inline_dialogue(tmp_path, _REPEAT_STEPS), console, variables={"hostname": "h1"})
    assert result.answered == [("more", "y\r"), ("more", "y\r"), ("more", "y\r"), ("hostname", "h1\r")]
    assert result.skipped == ["banner"]


def test_a_repeat_step_that_is_not_optional_must_show_once(tmp_path):
    console = _inline_console(tmp_path, Event("output", "Host name? "))
    with pytest.raises(DialogueStalled) as info:
        run_dialogue(_inline_dialogue(tmp_path, _REPEAT_STEPS), console, variables={"hostname": "h1"})
    assert "waiting for more 'Another set\\\\? '" in info.value.message
    assert console.sent == []


# ---------------------------------------------------------------- failures


def test_a_console_that_closes_mid_dialogue_says_so_with_the_panic_line(tmp_path):
    console = _inline_console(
        tmp_path,
        Event("output", "Another set? "), Event("input", "y\r"),
        Event("output", "y\r\nuvm_fault(0x1, 0x0, 1) -> e\r\npanic: trap type 0x34\r\nrebooting...\r\n"),
        Event("close"),
    )
    with pytest.raises(GuestError) as info:
        run_dialogue(_inline_dialogue(tmp_path, _REPEAT_STEPS), console, variables={"hostname": "h1"})
    assert info.value.message == (
        "inline dialogue: the console closed while waiting for more 'Another set\\\\? ' or hostname "
        "'Host name\\\\? '; the kernel printed: panic: trap type 0x34")
    assert not isinstance(info.value, Timeout)


def test_sysinst_not_finding_the_sets_on_the_cd_is_an_error_screen(tmp_path):
    console = replay("netbsd-sysinst-no-cd", tmp_path)
    with pytest.raises(GuestError) as info:
        run_dialogue("netbsd-sysinst", console, variables=VARIABLES)
    assert "error screen: 'Could not locate a CD medium in any drive with the distribution sets!'" in (
        info.value.message)
    assert "msg_mi: message No_cd_found" in info.value.message
    assert console.received[-1] == "a\r"  # the "Install from" answer, the last before the error


def test_an_error_screen_fails_with_the_line_the_transcript_and_the_last_screen(tmp_path):
    console = replay("openbsd-autoinstall-error", tmp_path)
    with pytest.raises(GuestError) as info:
        run_dialogue("openbsd-install", console, variables=VARIABLES)
    error = info.value
    assert "the installer showed an error screen: 'Question has no answer in response file.'" in error.message
    assert error.transcript == console.transcript_path
    assert error.console_tail[-2:] == ["failed; check /tmp/ai/ai.log", "# "]
    assert console.received == ["a\r", CONF_URL + "\r"]
    assert step_log(tmp_path / "openbsd-autoinstall-error.openbsd-install.steps.log")[-1]["event"] == "failed"


def test_a_silent_installer_trips_the_awaited_steps_named_stall_timer(tmp_path):
    console = replay("openbsd-autoinstall-stall", tmp_path)
    started = time.monotonic()
    with pytest.raises(DialogueStalled) as info:
        run_dialogue("openbsd-install", console, variables=VARIABLES)
    error = info.value
    assert isinstance(error, GuestError) and isinstance(error, Timeout)
    assert error.timeout_name == "installer_boot"
    assert "waiting for choose-autoinstall" in error.message
    assert error.console_tail[-1] == "entry point at 0xffffffff81001000"
    assert error.transcript == console.transcript_path
    assert time.monotonic() - started < 1.0
    assert console.received == ["set tty com0\r", "\r"]


class TrickleConsole:
    """Prints a dot every ``gap`` seconds ``dots`` times, then the prompt."""

    def __init__(self, tmp_path: Path, timeouts: Timeouts, dots: int, gap: float) -> None:
        self.transcript_path = tmp_path / "trickle.transcript"
        self.transcript_path.write_text("")
        self.timeouts = timeouts
        self.chunks = ["."] * dots + ["Response file location? "]
        self.gap = gap
        self.sent: list[str] = []
        self._match = None

    def expect(self, pattern, timeout_name="console_prompt"):
        if not self.chunks:
            time.sleep(self.timeouts.seconds(timeout_name))
            raise Timeout("nothing", waited=0, timeout_name=timeout_name)
        time.sleep(self.gap)
        chunk = self.chunks.pop(0)
        self._match = re.match(r"(?s).+", chunk)
        return 0

    @property
    def before(self):
        return ""

    @property
    def match(self):
        return self._match

    def send(self, text):
        self.sent.append(text)

    def tail(self, lines=40):
        return ["..."]


def _response_only(tmp_path: Path) -> dialogue.Dialogue:
    path = tmp_path / "response-only.toml"
    path.write_text('name = "response-only"\nlimit = "installer_total"\n[sources]\ns = "install.sub 1.815"\n'
                    '[[steps]]\nname = "response-file"\nprompt = "Response file location\\\\? "\n'
                    'answer = "{install_conf_url}{ENTER}"\ntimeout = "installer_prompt"\nsource = "s: ask"\n'
                    '[done]\nprompt = "never"\nsource = "s: never"\n')
    return load_dialogue(path)


def test_console_output_restarts_the_stall_timer(tmp_path):
    timeouts = Timeouts(installer_prompt=0.1, installer_total=5.0, dialogue_poll=0.01)
    # 12 dots 0.03 s apart: 0.36 s in all, three times the stall timer.
    console = TrickleConsole(tmp_path, timeouts, dots=12, gap=0.03)
    with pytest.raises(DialogueStalled) as info:
        run_dialogue(_response_only(tmp_path), console, variables=VARIABLES)
    assert console.sent == [CONF_URL + "\r"]  # the prompt came after 0.36 s and was answered
    assert "waiting for done 'never'" in info.value.message


def test_the_dialogue_limit_bounds_a_busy_console(tmp_path):
    timeouts = Timeouts(installer_prompt=0.1, installer_total=0.15, dialogue_poll=0.01)
    console = TrickleConsole(tmp_path, timeouts, dots=12, gap=0.03)
    with pytest.raises(DialogueStalled) as info:
        run_dialogue(_response_only(tmp_path), console, variables=VARIABLES)
    assert info.value.timeout_name == "installer_total"
    assert console.sent == []


# ---------------------------------------------------------------- real byte streams


@pytest.mark.parametrize(("fixture_name", "dialogue_name"), [
    ("netbsd-sysinst-sparc64", "netbsd-sysinst"),  # curses: escapes and cursor moves
    ("openbsd-autoinstall-amd64", "openbsd-install"),  # CR/LF line discipline
])
def test_the_real_console_drives_a_replay_process_over_its_socket(tmp_path, fixture_name, dialogue_name):
    timeouts = Timeouts(installer_boot=5.0, installer_prompt=5.0, installer_sets=5.0, installer_total=20.0,
                        dialogue_poll=0.05)
    with ReplayServer(fixture_name, tmp_path) as server:
        console = Console(server.socket_path, server.transcript_path, timeouts, target="replay")
        try:
            console.connect(time.monotonic() + 10)
            result = run_dialogue(dialogue_name, console, variables=VARIABLES)
        finally:
            console.close()
    assert server.record() == {"received": fixture(fixture_name).inputs(), "mismatch": None, "finished": True}
    assert server.returncode == 0
    assert [sent for _, sent in result.answered if sent != "<secret>"] == [
        text for text in fixture(fixture_name).inputs() if text != PASSWORD + "\r"]


# ---------------------------------------------------------------- install.conf


class _Entry:
    def __init__(self, arch: str, media: list[str], install_media: str) -> None:
        self.arch = arch
        self.settings = {"media": media, "install_media": install_media}

    def __getitem__(self, key):
        return self.settings[key]


BUILD_VARIABLES = {"hostname": "openbsd-7-6-amd64", "root_password": PASSWORD, "http_server": "10.0.2.2:8080",
                   "server_directory": "amd64", "authorized_key": KEY}


def test_install_conf_for_amd64_answers_every_question_and_moves_the_console_to_com0():
    entry = _Entry("amd64", ["amd64/cd76.iso", "amd64/bsd", "amd64/bsd.mp", "amd64/bsd.rd", "amd64/base76.tgz",
                             "amd64/comp76.tgz"], "amd64/cd76.iso")
    assert render_install_conf(entry, BUILD_VARIABLES) == "\n".join([
        "System hostname = openbsd-7-6-amd64",
        "IPv4 address for = dhcp",
        "IPv6 address for = none",
        "Password for root account = %s" % PASSWORD,
        "Public ssh key for root account = %s" % KEY,
        "Start sshd(8) by default = yes",
        "Allow root ssh login = prohibit-password",
        "Start ntpd(8) by default = no",
        "Do you expect to run the X Window System = no",
        "Change the default console to com0 = yes",
        "Which speed should com0 use = 115200",
        "Setup a user = no",
        "What timezone are you in = UTC",
        "Location of sets = http",
        "HTTP proxy URL = none",
        "HTTP Server = 10.0.2.2:8080",
        "Server directory = amd64",
        "Set name(s) = -all bsd bsd.mp bsd.rd base76.tgz comp76.tgz done",
        "Continue without verification = no",
    ]) + "\n"


def test_install_conf_for_sparc64_keeps_the_console_and_can_name_the_root_disk():
    lines = install_conf_lines(arch="sparc64", sets=["bsd", "base76.tgz"],
                               variables={**BUILD_VARIABLES, "authorized_key": "", "root_disk": "wd0"})
    assert "Public ssh key for root account = none" in lines
    assert not [line for line in lines if "com0" in line]
    assert "Which disk is the root disk = wd0" in lines
    assert lines[-2] == "Set name(s) = -all bsd base76.tgz done"


def test_install_conf_refuses_missing_variables_and_line_breaks():
    with pytest.raises(ConfigError, match=r"needs variable\(s\) root_password, http_server"):
        install_conf_lines(arch="amd64", sets=["bsd"], variables={"hostname": "h", "server_directory": "amd64"})
    with pytest.raises(ConfigError, match="hostname contains a line break"):
        install_conf_lines(arch="amd64", sets=["bsd"], variables={**BUILD_VARIABLES, "hostname": "a\nb"})
