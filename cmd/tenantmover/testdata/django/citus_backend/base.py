"""The backend the checklist gives: GROUP BY every selected column, since
the primary key Django knows (id) is not the table's key on Citus."""
from django.db.backends.postgresql import base, features


class DatabaseFeatures(features.DatabaseFeatures):
    allows_group_by_selected_pks = False


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
