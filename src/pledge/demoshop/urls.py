"""The demo storefront (/demo-shop/): the whole path a new user should see, banner to checkout."""

from django.urls import path

from pledge.demoshop import views

app_name = "demoshop"

urlpatterns = [
    path("", views.product, name="product"),
    path("checkout/", views.checkout, name="checkout"),
]
