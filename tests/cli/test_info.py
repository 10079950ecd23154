"""`tfusion info` names every choice a config or flag accepts."""

from tfusion.cli.main import main
from tfusion.diffusion.samplers import SAMPLERS
from tfusion.diffusion.schedules import BETA_SCHEDULES, SPACINGS
from tfusion.precision import bf16_probe
from tfusion.timeseries.presets import TIMESERIES_PRESETS


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
    # the machine line says which precision a bf16 request gets, from the measured probe
    probe = bf16_probe()
    verdict = "bf16 autocast is used" if probe.fast else "bf16 requests run in fp32"
    assert verdict in lines["machine"]
