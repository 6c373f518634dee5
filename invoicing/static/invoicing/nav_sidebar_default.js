'use strict';
// The navigation sidebar starts collapsed (« opens it, and the admin remembers the choice), so that the lists have the
// whole width of a 1440 px screen for their columns. Runs before Django's nav_sidebar.js, which reads this key.
try {
    if (localStorage.getItem('django.admin.navSidebarIsOpen') === null) {
        localStorage.setItem('django.admin.navSidebarIsOpen', 'false');
    }
} catch (e) { /* storage disabled: Django's default (open) */ }
