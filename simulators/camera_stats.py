"""Frigate's stats snapshot (`frigate/stats`), the cameras' heartbeat.

Real Frigate publishes one snapshot for all its cameras every `mqtt.stats_interval`
seconds (60 by default). The simulator sends it on that cadence of simulated time, live
and in a backfill alike, so each camera is heard from once a minute whatever the demo
rate: the registry's expected interval for cameras is this one.

Values are pure functions of (camera, time, seed) like the sensors' (simulators/signals):
the detect stream's fps with a little jitter, now and then a skipped frame, and detector
runs that follow the day's traffic.
"""

from __future__ import annotations

from config.secrets import MQTT_FRIGATE_USER
from simulators.fleet import Camera
from simulators.messages import FRIGATE_STATS_TOPIC, CameraFps, Outgoing, frigate_stats
from simulators.signals import MetricModel, unit_hash, value

STATS_INTERVAL_S = 60  # Frigate's default mqtt.stats_interval
FRIGATE_VERSION = "0.14.1-f4f3cfa"
DETECT_FPS = 5.0  # Frigate's default detect fps


def _models(fps: float) -> dict[str, MetricModel]:
    return {
        "camera_fps": MetricModel("camera_fps", "1/s", "steady", base=fps, noise=0.04, decimals=2),
        "skipped_fps": MetricModel(
            "skipped_fps", "1/s", "steady", base=0.0, noise=0.08, lo=0.0, hi=fps, decimals=2
        ),
        # Detector runs follow what moves in front of the camera: the day's traffic.
        "detection_fps": MetricModel(
            "detection_fps",
            "1/s",
            "traffic",
            base=0.45 * fps,
            amplitude=0.9,
            drift=0.2,
            drift_hours=3,
            noise=0.15,
            lo=0.0,
            decimals=2,
        ),
    }


class CameraHeartbeat:
    """Every call is one snapshot of every camera at time `t`."""

    stream = "cameras"  # counted on the cameras' progress row

    def __init__(self, cameras: tuple[Camera, ...], seed: int) -> None:
        if not cameras:
            raise ValueError("the camera heartbeat needs at least one camera")
        self._cameras = cameras
        self._seed = seed
        self._started: float | None = None

    def figures(self, camera: Camera, t: float) -> CameraFps:
        models = _models(DETECT_FPS)
        fps, skipped, detection = (
            value(models[name], camera.name, t, self._seed)
            for name in ("camera_fps", "skipped_fps", "detection_fps")
        )
        pid = 300 + int(unit_hash(self._seed, camera.name, "pid") * 600)
        return CameraFps(
            camera_fps=fps,
            process_fps=round(max(0.0, fps - skipped), 2),
            skipped_fps=skipped,
            detection_fps=detection,
            pid=pid,
            capture_pid=pid + 1,
            ffmpeg_pid=pid + 2,
        )

    def next(self, t: float) -> Outgoing:
        if self._started is None:
            self._started = t
        snapshot = {c.name: self.figures(c, t) for c in self._cameras}
        uptime = int(t - self._started)
        return Outgoing(
            stream=self.stream,
            transport="mqtt",
            topic=FRIGATE_STATS_TOPIC,
            payload=frigate_stats(snapshot, t, uptime, FRIGATE_VERSION),
            sender=MQTT_FRIGATE_USER,
        )
