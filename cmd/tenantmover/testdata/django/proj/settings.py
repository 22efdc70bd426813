"""The test project's settings: the database comes from the environment
(the test points it at the source, then at the Citus coordinator)."""
import os

SECRET_KEY = 'tenantmover-test'
INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth', 'shop']
DATABASES = {
    'default': {
        'ENGINE': os.environ.get('DJANGO_DB_ENGINE', 'django.db.backends.postgresql'),
        'NAME': os.environ['DJANGO_DB_NAME'],
        'USER': os.environ['DJANGO_DB_USER'],
        'HOST': os.environ['DJANGO_DB_HOST'],
        'PORT': os.environ['DJANGO_DB_PORT'],
        # The Citus guide's setting (the checklist's last item).
        'DISABLE_SERVER_SIDE_CURSORS': True,
    },
}
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
USE_TZ = True
