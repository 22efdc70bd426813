"""ORM reads and writes on the Citus target after the move. Prints one JSON
object: each check's result, or the error it met (the test asserts)."""
import json

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, FilteredRelation, Q

from shop.models import Campaign, Company, Product, Purchase, Store

out = {}


def check(name, fn):
    try:
        with transaction.atomic():
            out[name] = fn()
    except Exception as e:  # the test wants the error text
        out[name] = 'error: %s: %s' % (type(e).__name__, str(e).splitlines()[0])


store = Store.objects.order_by('id')[1]
product = Product.objects.filter(store=store).order_by('id').first()

check('count', lambda: Purchase.objects.filter(store=store).count())
check('new_store', lambda: Store.objects.create(name='new', url='https://example.com/new').id)
check('new_product', lambda: Product.objects.create(name='new', description='d', price='1.00', quantity=1,
                                                    sku='new', store=store).id)
check('new_purchase', lambda: Purchase.objects.create(billing_address='b', shipping_address='s',
                                                      product=product, store=store).id)
check('same_sku_other_store', lambda: Product.objects.create(
    name='dup', description='d', price='1.00', quantity=1, sku='sku-1-0',
    store=Store.objects.order_by('id')[2]).id)


def plain_save():
    product.price = '5.00'
    product.save()
    return 'saved'


def save_update_fields():
    product.price = '6.00'
    product.save(update_fields=['price'])
    return str(Product.objects.get(store=store, id=product.id).price)


check('plain_save', plain_save)
check('save_update_fields', save_update_fields)
check('queryset_update', lambda: Product.objects.filter(store=store, id=product.id).update(quantity=42))
check('join_one_side', lambda: Purchase.objects.filter(store=store, product__name='product 0').count())
check('join_both_sides', lambda: Purchase.objects.filter(store=store, product__store=store,
                                                         product__name='product 0').count())
check('annotate', lambda: sorted(Product.objects.filter(store=store).annotate(
    sp=FilteredRelation('purchase', condition=Q(purchase__store=store))).annotate(
    n=Count('sp')).values_list('n', flat=True)))


def m2m_add():
    company = Company.objects.get(name='Acme')
    company.users.add(User.objects.create_user('newuser'))
    return company.users.count()


check('m2m_add', m2m_add)


def delete_product():
    victim = Product.objects.get(store=store, name='product 3')
    had = Purchase.objects.filter(store=store, product_id=victim.id).count()
    victim.delete()
    return [had, Purchase.objects.filter(store=store, product_id=victim.id).count()]


def delete_store():
    victim = Store.objects.order_by('id')[0]
    victim.delete()
    return [Product.objects.filter(store_id=victim.id).count(), Purchase.objects.filter(store_id=victim.id).count()]


def delete_company():
    Company.objects.get(name='Acme').delete()
    return [Campaign.objects.count(), Company.users.through.objects.count()]


check('delete_product', delete_product)
check('delete_store', delete_store)
check('delete_company', delete_company)
print(json.dumps(out, sort_keys=True))
