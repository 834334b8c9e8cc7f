# The analyst app (Streamlit) on Python 3.13. Build: docker build -t globeco-rebalancer .
# Run:  docker run -p 8501:8501 -v rebalancer-var:/app/var globeco-rebalancer
# Configure with environment variables (MONGODB_URI, ACCOUNTING_URL, ...) or mount .streamlit/secrets.toml.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 app && mkdir -p /app/var && chown -R app /app/var
USER app

# the embedded database (mongoeco on SQLite) lives here when MONGODB_URI is unset
VOLUME ["/app/var"]
EXPOSE 8501

# slim has no curl: probe Streamlit's health endpoint with the standard library
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).status == 200 else 1)"

ENTRYPOINT ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
