FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 DO_NOT_TRACK=1
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 pandoc && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY citewise ./citewise
COPY ingest ./ingest
COPY retrieval ./retrieval
COPY generation ./generation
COPY api ./api
COPY evals ./evals
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt "torch==2.13.0" \
 && pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt .
# the dense model's ONNX exports, built into the image's model cache once instead of on every container start
ENV CITEWISE_CACHE_DIR=/opt/citewise-cache
RUN citewise models build --backend all
EXPOSE 8000
CMD ["citewise", "serve", "--host", "0.0.0.0", "--port", "8000"]
