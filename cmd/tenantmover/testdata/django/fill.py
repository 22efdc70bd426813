"""Fills the source through the ORM: 3 stores, 4 products each, 3
purchases per product, users, a company with members and a campaign."""
from django.contrib.auth.models import User

from shop.models import Campaign, Company, Product, Purchase, Store

for s in range(3):
    store = Store.objects.create(name='store %d' % s, url='https://example.com/%d' % s)
    for p in range(4):
        product = Product.objects.create(name='product %d' % p, description='d', price='9.99', quantity=p,
                                         sku='sku-%d-%d' % (s, p), store=store)
        for q in range(3):
            Purchase.objects.create(billing_address='b', shipping_address='s', product=product)
company = Company.objects.create(name='Acme')
for u in range(2):
    company.users.add(User.objects.create_user('user%d' % u))
Campaign.objects.create(name='launch', company=company)
