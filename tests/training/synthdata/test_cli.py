import pytest

from training.synthdata.cli import main


def test_bad_arguments_are_one_clear_error(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--hours", "0"]) == 2
    assert "make-data: error: hours must be positive" in capsys.readouterr().err
    assert main(["--out", str(tmp_path), "--hours", "1", "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_muvi_train_make_data_is_this_command(capsys):
    pytest.importorskip("torch")
    from training.cli import main as muvi_train

    with pytest.raises(SystemExit) as exit_info:
        muvi_train(["make-data", "--help"])
    assert exit_info.value.code == 0
    assert "--hours" in capsys.readouterr().out
