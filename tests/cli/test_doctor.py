"""ssibench doctor: one line per check, exit code 1 when one fails."""

from __future__ import annotations

from ssibench.cli.doctor import main


def test_doctor_reports_a_healthy_machine(tmp_path, capsys):
    (tmp_path / "measurements").mkdir()
    (tmp_path / "measurements" / "measurements-0123.h5").write_bytes(b"x" * 2048)
    assert main(["--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for expected in ("ok   sigpy", "ok   libcpab", "ok   nilearn", "ok   deepinv 0.5", f"data dir {tmp_path} is writable",
                     "1 measurement cache(s)"):
        assert expected in out, expected
    assert "FAIL" not in out


def test_doctor_fails_on_a_data_dir_it_cannot_write(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["--data-dir", str(tmp_path / "file" / "data")]) == 1
    assert "FAIL data dir" in capsys.readouterr().out
