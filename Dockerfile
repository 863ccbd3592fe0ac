# ganstudio's images (docs/deploy.md).
#
#   docker build -t ganstudio .                          the serving image (default): `ganstudio serve` on
#   docker run --rm -p 127.0.0.1:7860:7860 ganstudio     the shipped checkpoints, ONNX Runtime, no torch
#   docker run --rm ganstudio sample --n 16 --out /tmp/grid.png
#
#   docker build --target train -t ganstudio-train .     adds torch (PyPI's CUDA build) for `ganstudio train`
#   docker run --rm --gpus all -v "$PWD/runs:/home/ganstudio/runs" ganstudio-train train mnist
#
# Build arguments:
#   BASE_IMAGE       any image with Python >= 3.11 as `python` (with venv); a CUDA base for GPU serving
#   ORT_PACKAGE      onnxruntime (CPU, the default) or onnxruntime-gpu (CUDA)
#   TORCH_INDEX_URL  an extra index for torch, e.g. https://download.pytorch.org/whl/cpu for a CPU-only train image
#   PIP_CERT         behind a TLS-intercepting proxy: the CA bundle pip should trust, mounted at build time
#                    (e.g. buildah bud -v /etc/ssl/certs:/etc/ssl/certs:ro); nothing of it stays in the image

ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- build: a venv with ganstudio and its serving dependencies
FROM ${BASE_IMAGE} AS build
ARG ORT_PACKAGE=onnxruntime
ARG PIP_CERT=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
SHELL ["/bin/sh", "-eu", "-c"]
WORKDIR /src
RUN python -m venv /opt/venv
# The dependencies first, from pyproject.toml alone: this layer survives code changes.
COPY pyproject.toml ganstudio/deploy/requirements.py ./
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi; \
    python requirements.py pyproject.toml --ort "$ORT_PACKAGE" >requirements.txt; \
    /opt/venv/bin/pip install --requirement requirements.txt
COPY README.md ./
COPY ganstudio ganstudio
# The shipped generators and recipes travel inside the package (ganstudio/_shipped, as in the wheel).
COPY checkpoints checkpoints
COPY train train
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi; \
    /opt/venv/bin/pip install --no-deps .

# ---- train-build: the same venv plus the train extra (torch, onnx exporter, datasets)
FROM build AS train-build
ARG PIP_CERT=""
ARG TORCH_INDEX_URL=""
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi; \
    python requirements.py pyproject.toml --extra train >train.txt; \
    /opt/venv/bin/pip install --requirement train.txt ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"}

# ---- serve-venv: the build's venv without what only installing needs: pip, setuptools, and the libraries'
# own test suites (pandas' alone is 46 MB)
FROM build AS serve-venv
RUN /opt/venv/bin/pip uninstall --yes --quiet pip setuptools; \
    find /opt/venv/lib -path '*/site-packages/*' -type d -name tests -prune -exec rm -rf '{}' +

# ---- runtime: what both images share: a non-root user (the shipped checkpoints are in the venv's package)
FROM ${BASE_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 --user-group ganstudio
ENV PATH=/opt/venv/bin:$PATH \
    GRADIO_ANALYTICS_ENABLED=False \
    PYTHONUNBUFFERED=1
WORKDIR /home/ganstudio

# ---- train: `ganstudio train` (recipes in ./train; mount a volume on ./runs to keep the runs)
FROM runtime AS train
COPY --from=train-build /opt/venv /opt/venv
COPY --chown=ganstudio:ganstudio train train
USER 10001:10001
ENTRYPOINT ["ganstudio"]
CMD ["train", "--help"]

# ---- serve (the default target): the studio on port 7860
FROM runtime AS serve
COPY --from=serve-venv /opt/venv /opt/venv
USER 10001:10001
EXPOSE 7860
# The check finds the port of the running `ganstudio serve` itself (ganstudio/deploy/health.py): a CMD
# overridden with another --port stays healthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "ganstudio.deploy.health"]
ENTRYPOINT ["ganstudio"]
# 0.0.0.0 inside the container only, so a published port reaches it; `ganstudio serve` itself binds 127.0.0.1.
CMD ["serve", "--host", "0.0.0.0", "--port", "7860"]
