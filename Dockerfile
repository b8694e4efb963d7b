# maildiag: one image for the app replicas, the worker and the sink.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY diag ./diag
COPY smtp_sink ./smtp_sink
COPY reports ./reports
COPY reset ./reset
COPY maildiag ./maildiag
RUN pip install --no-cache-dir '.[postgres]' && useradd --system --home /data maildiag && mkdir -p /data && chown maildiag /data
USER maildiag
VOLUME ["/data"]
EXPOSE 8000 2525
ENTRYPOINT ["maildiag"]
CMD ["serve", "--host", "0.0.0.0"]
