# SDXL Studio on a CUDA GPU host. Build and run (see README "Docker / Colab / exposing the studio"):
#   docker build -t sdxl-studio .
#   docker run --gpus all -p 7865:7865 -e STUDIO_AUTH=user:pass \
#       -v "$PWD/models:/app/models" -v "$PWD/outputs:/app/outputs" sdxl-studio
# The Python the pinned set (constraints.txt) was resolved and tested with. torch's wheels bring the CUDA
# libraries as pip packages, so no CUDA base image is needed: the host's driver comes in with --gpus.
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HOME=/app/models/hf-cache \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt

COPY app.py ./
COPY studio ./studio
COPY presets ./presets
COPY styles ./styles

# A non-root user owns only what it must write: the models and outputs volumes.
RUN useradd --create-home --uid 1000 studio \
    && mkdir -p /app/models /app/outputs \
    && chown studio:studio /app/models /app/outputs
USER studio
VOLUME ["/app/models", "/app/outputs"]

EXPOSE 7865
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD curl -fsS http://127.0.0.1:7865/health || exit 1

# Listens on all interfaces inside the container, so auth is required: STUDIO_AUTH=user:pass[,user2:pass2]
# (app.py refuses to start without it). Extra options can be appended to `docker run ... sdxl-studio`.
ENTRYPOINT ["python", "app.py", "--listen", "0.0.0.0", "--port", "7865", "--models-dir", "/app/models", "--output-dir", "/app/outputs"]
CMD []
