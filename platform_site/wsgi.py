import os

from django.core.wsgi import get_wsgi_application
from threadpoolctl import threadpool_limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_site.settings.local")
application = get_wsgi_application()

# A web process serves many requests at once, each scoring with numpy: BLAS
# threads of their own would only fight the request threads for the cores
# (measured by bench/serve.py: 32 ms of CPU per recommendation with them,
# 18 ms without). Workers that train (Celery) keep their threads.
threadpool_limits(limits=1)
