"""`tfusion info` names every choice a config or flag accepts."""

from tfusion.cli.main import main
from tfusion.config import SAMPLERS, SPACINGS
from tfusion.diffusion.schedules import BETA_SCHEDULES
from tfusion.models.presets import TIMESERIES_PRESETS


def test_info_lists_samplers_schedules_spacings_and_presets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":")[0]: line for line in out.splitlines() if ":" in line}
    for name in SAMPLERS:
        assert name in lines["samplers"]
    for name in BETA_SCHEDULES:
        assert name in lines["schedules"]
    for name in SPACINGS:
        assert name in lines["step spacings"]
    for name in TIMESERIES_PRESETS:
        assert name in out
