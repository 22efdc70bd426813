"""The models after the move, changed as tenantmover's notes say (the test
checks that the notes hold each changed line)."""
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone


class Store(models.Model):
    name = models.CharField(max_length=255)
    url = models.URLField()


class Product(models.Model):
    name = models.CharField(max_length=255)
    description = models.TextField()
    price = models.DecimalField(max_digits=6, decimal_places=2)
    quantity = models.IntegerField()
    sku = models.CharField(max_length=32)
    store = models.ForeignKey(Store, on_delete=models.CASCADE)

    class Meta:
        unique_together = [('store', 'id'), ('store', 'sku')]


class Purchase(models.Model):
    ordered_at = models.DateTimeField(default=timezone.now)
    billing_address = models.TextField()
    shipping_address = models.TextField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False)
    store = models.ForeignKey('shop.store', on_delete=models.CASCADE, db_column='store_id', db_constraint=False)

    class Meta:
        unique_together = [('store', 'id')]


class Company(models.Model):
    name = models.CharField(max_length=512)
    users = models.ManyToManyField(User)


class Campaign(models.Model):
    name = models.CharField(max_length=512)
    company = models.ForeignKey(Company, on_delete=models.CASCADE)
