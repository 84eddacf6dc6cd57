from django.urls import path

from lienthong.portal import pickers, views

app_name = "portal"

urlpatterns = [
    path("", views.my_dossiers, name="mine"),
    path("lookup/", views.lookup, name="lookup"),
    # Before "<str:code>/": a dossier code never reads "communes".
    path("communes/", pickers.communes, name="communes"),
    # The payment backend's server-to-server confirmation; "payments" is no dossier code.
    path("payments/<str:backend>/callback/", views.payment_callback, name="payment-callback"),
    path("new/<str:procedure_code>/", views.new_dossier, name="new"),
    path(
        "new/interconnected/<str:group_code>/",
        views.new_interconnected,
        name="new-interconnected",
    ),
    # Before "<str:code>/": a dossier code never reads "ratings".
    path("ratings/", views.rating_agencies, name="rating-agencies"),
    path("ratings/<str:agency>/", views.agency_ratings, name="agency-ratings"),
    path("<str:code>/", views.dossier_detail, name="detail"),
    path("<str:code>/withdraw/", views.withdraw, name="withdraw"),
    path("<str:code>/supplement/", views.answer_supplement, name="supplement"),
    path("<str:code>/receipt.pdf", views.receipt, name="receipt"),
    path("<str:code>/delivery/", views.choose_delivery, name="delivery"),
    path("<str:code>/payment/", views.pay, name="pay"),
    path("<str:code>/payment/return/", views.payment_return, name="payment-return"),
    path("<str:code>/steps/<int:position>/result.pdf", views.step_result, name="step-result"),
    path(
        "<str:code>/steps/<int:position>/verify/",
        views.verify_step_result,
        name="step-result-verify",
    ),
    path("<str:code>/rating/", views.rate, name="rate"),
    path("<str:code>/declaration.pdf", views.declaration, name="declaration"),
    path("<str:code>/declaration/sign/", views.sign_declaration, name="sign-declaration"),
    path(
        "<str:code>/declaration/sign/<str:reference>/",
        views.sign_declaration_wait,
        name="sign-declaration-wait",
    ),
    path(
        "<str:code>/declaration/sign/<str:reference>/finish/",
        views.sign_declaration_finish,
        name="sign-declaration-finish",
    ),
]
