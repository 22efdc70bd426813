"""The models before the move: the Citus guide's shop and the error notes'
Company/Campaign with a many-to-many to User."""
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
    sku = models.CharField(max_length=32, unique=True)
    store = models.ForeignKey(Store, on_delete=models.CASCADE)


class Purchase(models.Model):
    ordered_at = models.DateTimeField(default=timezone.now)
    billing_address = models.TextField()
    shipping_address = models.TextField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE)


class Company(models.Model):
    name = models.CharField(max_length=512)
    users = models.ManyToManyField(User)


class Campaign(models.Model):
    name = models.CharField(max_length=512)
    company = models.ForeignKey(Company, on_delete=models.CASCADE)
