"""Job files and --set: every value is checked where it is given, and errors name the file and line
(or the --set argument) with the message the Python API gives for the same parameter."""

import os

import pytest

import hpcdl
from hpcdl.jobs import JobError, load_job, toml_line
from hpcdl.params import DeepLearningParameters, ParameterError

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
IRIS = os.path.join(DATA, "iris_wheader.csv")


def _job_file(tmp_path, parameters="", job="", data='y = "class"'):
    path = tmp_path / "j.toml"
    name = "" if job.startswith("name") else 'name = "j"'
    path.write_text(
        f'[job]\n{name}\noutput_dir = "{tmp_path / "out"}"\n{job}\n'
        f'[data]\ntraining_frame = "{IRIS}"\n{data}\n'
        f"[parameters]\nhidden = [3]\n{parameters}\n"
    )
    return str(path)


def _api_message(**kw):
    with pytest.raises(ParameterError) as info:
        DeepLearningParameters(**kw)
    return str(info.value)


def test_toml_line_finds_a_key_in_its_table(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[job]\nname = "a"\n\n[parameters]  # comment\nname_x = 1\n"epochs" = 2\nhidden=[1]\n')
    assert toml_line(str(path), "job", "name") == 2
    assert toml_line(str(path), "parameters", "epochs") == 6
    assert toml_line(str(path), "parameters", "hidden") == 7
    assert toml_line(str(path), "parameters", "name") is None  # name_x is another key
    assert toml_line(str(path), "data", "y") is None


@pytest.mark.parametrize(
    "line, kw",
    [
        ('distribution = "poisson"', {"distribution": "poisson"}),
        ("elastic_averaging = true", {"elastic_averaging": True}),
        ('distribution = "gamma"', {"distribution": "gamma"}),
        ("epochs = -1", {"epochs": -1}),
        ("l1 = [0.1, 0.2]", {"l1": [0.1, 0.2]}),
    ],
)
def test_a_refused_parameter_names_the_job_file_and_line_with_the_api_message(tmp_path, line, kw):
    path = _job_file(tmp_path, parameters=line)
    with pytest.raises(JobError) as info:
        load_job(path)
    assert str(info.value).startswith(f"{path}:10: [parameters] {next(iter(kw))}: ")
    assert str(info.value).endswith(_api_message(**kw))


def test_a_refused_parameter_from_set_names_the_set_argument(tmp_path):
    path = _job_file(tmp_path)
    with pytest.raises(JobError) as info:
        load_job(path, ['distribution="gamma"'])
    assert str(info.value) == f'--set distribution="gamma": {_api_message(distribution="gamma")}'
    with pytest.raises(JobError, match=r"^--set hiden=\[4\]: unknown parameter 'hiden'; did you mean 'hidden'"):
        load_job(path, ["hiden=[4]"])


def test_an_alias_in_the_job_file_is_located(tmp_path):
    path = _job_file(tmp_path, parameters="hidden_dropout_ratio = [0.5]")  # needs a *WithDropout activation
    with pytest.raises(JobError, match=rf"^{path}:10: \[parameters\] hidden_dropout_ratio: "):
        load_job(path)


@pytest.mark.parametrize(
    "setting, expected",
    [
        ("job.threads=abc", "a whole number >= 1"),
        ("job.threads=-2", "a whole number >= 1"),
        ("job.checkpoint_interval=-5", "a number of seconds >= 0"),
        ('job.save_model="false"', "true or false"),
        ("job.parallelism=0", "a whole number >= 1"),
        ("job.port=70000", "a port number"),
        ('job.name="a/b"', "without a directory part"),
    ],
)
def test_set_job_values_are_checked_like_the_job_table(tmp_path, setting, expected):
    path = _job_file(tmp_path)
    with pytest.raises(JobError) as info:
        load_job(path, [setting])
    assert str(info.value).startswith(f"--set {setting}: ") and expected in str(info.value)
    key, value = setting[4:].split("=", 1)
    in_file = _job_file(tmp_path, job=f"{key} = {value if not value.isalpha() else repr(value)}")  # TOML text
    with pytest.raises(JobError) as info:
        load_job(in_file)
    assert str(info.value).startswith(f"{in_file}:4: [job]: ") and expected in str(info.value)


def test_set_job_and_data_keys_must_exist_and_good_values_apply(tmp_path):
    path = _job_file(tmp_path)
    with pytest.raises(JobError, match=r"--set job.thread=2: unknown \[job\] key 'thread'"):
        load_job(path, ["job.thread=2"])
    with pytest.raises(JobError, match=r"--set data.why=1: unknown \[data\] key 'why'"):
        load_job(path, ["data.why=1"])
    job = load_job(path, ["job.threads=2", "job.checkpoint_interval=0", "job.save_model=false", "data.y='sepal_len'"])
    assert (job.threads, job.checkpoint_interval, job.save_model, job.data["y"]) == (2, 0.0, False, "sepal_len")
    assert load_job(path, ["job.threads=0"]).threads is None  # 0: automatic, as in the file


def test_a_response_is_required_unless_autoencoder(tmp_path):
    path = _job_file(tmp_path, data="")
    with pytest.raises(JobError, match=rf"^{path}: \[data\] y \(the response column\) is required unless"):
        load_job(path)
    assert load_job(path, ["autoencoder=true"]).parameters["autoencoder"] is True


@pytest.mark.parametrize(
    "data, expected",
    [
        ('y = "class"\nvalidation_split = 1.5', "validation_split = 1.5 is not valid; expected a fraction"),
        ('y = "class"\nvalidation_split = 0.2\nvalidation_frame = "v.csv"', "not both"),
        ('y = "class"\nsplit_seed = 3', "split_seed applies to validation_split only"),
        ('y = "class"\nvalidation_split = 0.2\nsplit_seed = "x"', "split_seed = 'x' is not a whole number"),
    ],
)
def test_validation_split_values_are_checked(tmp_path, data, expected):
    with pytest.raises(JobError, match=expected) as info:
        load_job(_job_file(tmp_path, data=data))
    assert str(info.value).startswith(str(tmp_path / "j.toml"))


def test_validation_split_holds_out_split_frames_rows(tmp_path, capsys):
    """The job validates on exactly the rows split_frame holds out for the seed, and trains on the rest."""
    from hpcdl import cli

    job = _job_file(
        tmp_path, parameters="epochs = 2\nseed = 1", data='y = "class"\nvalidation_split = 0.3\nsplit_seed = 7'
    )
    assert cli.main(["train", job, "--quiet"]) == 0
    model = hpcdl.load_model(str(tmp_path / "out" / "j.h5"))
    train, valid = hpcdl.import_file(IRIS).split_frame(ratios=[0.7], seed=7)
    assert model.run_info["n_training_rows"] == train.nrow < 150
    assert model.validation_metrics["nobs"] == valid.nrow == 150 - train.nrow
    again = model.model_performance(valid)  # the stored validation metrics are those of the held-out rows
    assert again["logloss"] == pytest.approx(model.validation_metrics["logloss"], rel=1e-6)


@pytest.mark.parametrize(
    "line, message",
    [
        ('l1 = [0.0, "x"]', "invalid value for parameter 'l1': 'x'"),
        ("l2x = [0.0]", "unknown parameter 'l2x'; did you mean 'l2'?"),
        ("hidden_dropout_ratios = [0.5, 0.1]", "takes a list of lists, one per model"),
        ("l1 = []", "an empty list"),
        ("hidden = [[4], [8]]", "'hidden' is also fixed in [parameters]"),
    ],
)
def test_a_refused_grid_entry_names_the_job_file_and_line(tmp_path, line, message):
    path = _job_file(tmp_path, parameters=f"\n[grid]\n{line}")
    with pytest.raises(JobError) as info:
        load_job(path)
    assert str(info.value).startswith(f"{path}:12: [grid] {line.split()[0]}: ")
    assert message in str(info.value)
