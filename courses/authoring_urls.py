"""The authoring pages, under courses/author/ (courses.urls): a tenant's own courses and their parts.

A part is addressed by its own id (`lessons/<id>/`); the view finds it through its course, which
must be the tenant's own."""

from django.urls import path

from courses import authoring_views as views

urlpatterns = [
    path("", views.course_list_view, name="author-list"),
    path("new/", views.course_new_view, name="author-course-new"),
    path("<int:course_id>/", views.course_edit_view, name="author-course"),
    path("<int:course_id>/publish/", views.course_publish_view, name="author-course-publish"),
    path("<int:course_id>/delete/", views.course_delete_view, name="author-course-delete"),
    path("<int:course_id>/modules/new/", views.module_new_view, name="author-module-new"),
    path("modules/<int:module_id>/", views.module_edit_view, name="author-module"),
    path("modules/<int:module_id>/delete/", views.module_delete_view, name="author-module-delete"),
    path("modules/<int:module_id>/lessons/new/", views.lesson_new_view, name="author-lesson-new"),
    path("lessons/<int:lesson_id>/", views.lesson_edit_view, name="author-lesson"),
    path("lessons/<int:lesson_id>/delete/", views.lesson_delete_view, name="author-lesson-delete"),
    path("modules/<int:module_id>/quizzes/new/", views.quiz_new_view, name="author-quiz-new"),
    path("quizzes/<int:quiz_id>/", views.quiz_edit_view, name="author-quiz"),
    path("quizzes/<int:quiz_id>/delete/", views.quiz_delete_view, name="author-quiz-delete"),
    path("quizzes/<int:quiz_id>/questions/new/", views.question_new_view, name="author-question-new"),
    path("questions/<int:question_id>/", views.question_edit_view, name="author-question"),
    path("questions/<int:question_id>/delete/", views.question_delete_view, name="author-question-delete"),
    path("modules/<int:module_id>/labs/new/", views.lab_new_view, name="author-lab-new"),
    path("labs/<int:lab_id>/", views.lab_edit_view, name="author-lab"),
    path("labs/<int:lab_id>/delete/", views.lab_delete_view, name="author-lab-delete"),
    path("labs/<int:lab_id>/steps/new/", views.step_new_view, name="author-step-new"),
    path("steps/<int:step_id>/", views.step_edit_view, name="author-step"),
    path("steps/<int:step_id>/delete/", views.step_delete_view, name="author-step-delete"),
]
