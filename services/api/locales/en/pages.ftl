# The hosted pages a car owner sees: the link page (connecting a car account to an app) and the
# enrolment page (joining a flexibility program). { $app } is the app's name as its maker set it.

## Shared by every page

the-app = the app
back-to-app = Back to { $app }
back-unknown = You can close this page and go back to the app you came from.
language-label = Language
logo-alt = { $app } logo
run-by = This page is run by Coupler on behalf of { $app }.
error-title = Something went wrong
error-send-on = Coupler cannot send you on. Go back to the app to start again.

## The link page

link-title = Connect your car
link-heading = { $app } wants to connect to your car
link-intro = { $app } uses Coupler to reach your car through your account at the car's maker. You sign in at the maker, not here: { $app } never sees your password.
link-access-heading = What { $app } will be able to do
scope-read-data = See your car's battery level, range and charging status, and details such as its model and VIN.
scope-read-location = See where your car is, for example to know when it is at home.
scope-control-charging = Start and stop charging, and change how fast your car charges.
link-privacy-heading = Your privacy
link-privacy-shared = Coupler passes this information to { $app } and to no one else. Your password stays with your car's maker.
link-privacy-policy = Read { $app }'s privacy policy
link-privacy-stop = You can disconnect your car at any time, in { $app } or in your car maker's app.
link-next-heading = What happens next
link-next-choose = You choose your car's brand below.
link-next-sign-in = You sign in at { $vendor } and allow access.
link-next-sign-in-any = You sign in with your account at your car's maker and allow access.
link-next-back = You come back to { $app }, and your car shows up there.
link-choose-heading = Choose your car's brand
link-continue = Continue to { $vendor }
link-cancel = Cancel and go back to { $app }
link-vendor-unavailable = That brand is not available. Choose one from the list.
link-not-found-title = Link not found
link-not-found = This link is not valid. Ask the app for a new one.
link-unavailable-title = Linking is unavailable
link-unavailable = Coupler cannot continue right now. Please try again in a moment.
link-used-title = This link has been used
link-used = This link has already been used to connect an account. Go back to { $app } to start again.
link-ended = This link has ended. Go back to { $app } to start again.
signin-unknown-title = Sign-in not recognised
signin-unknown = This sign-in response does not belong to a link in progress. Go back to the app to start again.
signin-used-title = This sign-in was already used
signin-used = This sign-in response was already used. Go back to { $app } to start again.

## The enrolment page

enrol-runs = { $operator } runs this program and invites you to enrol your devices in it.
enrol-what-heading = What the program does to your charging
enrol-does-capacity = During an event, the program limits how much power your home draws from the grid, so your car charges more slowly until the event ends.
enrol-does-shed = During an event, the program lowers your charging below what it would usually be, and measures the difference.
enrol-does-pause = During an event, charging pauses. It starts again by itself when the event ends.
enrol-events-per-year = { $count ->
    [one] At most 1 event a year.
   *[other] At most { $count } events a year.
}
enrol-events-unlimited = No set limit on how many events there are in a year.
enrol-event-length = Each event lasts at most { $duration }.
enrol-no-notice = An event can start without notice.
enrol-notice = You are told at least { $duration } before an event starts.
duration-days = { $count ->
    [one] 1 day
   *[other] { $count } days
}
duration-hours = { $count ->
    [one] 1 hour
   *[other] { $count } hours
}
duration-minutes = { $count ->
    [one] 1 minute
   *[other] { $count } minutes
}
enrol-get-heading = What you get
enrol-no-incentive = The program does not state an incentive.
enrol-shared-heading = What is shared
enrol-shared-intro = While a device is enrolled, { $operator } receives:
enrol-rights-heading = Your choices
enrol-rights = Taking part is your choice. When you need your car charged as usual, you can opt out of an event in { $app }, and you can leave the program at any time.
enrol-leave-heading = How to leave
enrol-devices = Your devices
enrol-none-eligible = None of your devices can join this program right now.
enrol-cannot-join = Devices that cannot join
enrol-consent = I agree to enrol the devices I ticked in { $program } on these terms, and to share what is listed above with { $operator }.
enrol-submit = Enrol
enrol-decline = No thanks
kind-charger = Charger
kind-car = Car
kind-ev-system = Car and charger together
enrol-ev-system-label = { $car } at { $charger }
enrol-undecided = It can join now; it takes part once it has been checked.
enrol-error-choose = Choose Enrol or No thanks.
enrol-error-tick = Tick at least one device to enrol.
enrol-error-consent = Tick the box to agree to the terms, or choose No thanks.
enrol-error-cannot = A device you ticked cannot join this program (any more). Check the list and try again.
enrol-error-device = { $device } cannot join this program any more. Check the list and try again.
enrol-error-meanwhile = A device you ticked was enrolled meanwhile. Check the list and try again.
enrol-unavailable-title = Enrolment is unavailable
enrol-unavailable = Coupler cannot show this page right now. Please try again in a moment.
enrol-not-found = This enrolment link is not valid. Ask the app for a new one.
enrol-used-title = This link has been used
enrol-used-completed = Your answer was already recorded. Go back to { $app } to see your enrolment.
enrol-used-declined = You already declined. Go back to { $app } if you would like to enrol after all.
enrol-expired-title = This link has expired
enrol-expired = Enrolment links work for 24 hours. Go back to { $app } to get a new one.
enrol-csrf-title = Please try again
enrol-csrf = This form did not come from the enrolment page in this browser (cookies may be blocked). Nothing was changed. Open the page again to answer.
enrol-open-again = Open the page again

## Why a device cannot join, in words for the driver

reason-kind = This program does not take this kind of device.
reason-capability-missing = It cannot { $can }.
reason-capability-unknown = It has not told us yet whether it can { $can }; it is checked again once it does.
reason-outside-area = It is outside the area this program covers.
reason-location-unknown = We do not know where it is, and this program covers only some areas. Set its location in the app first.
reason-already-enrolled = It is already enrolled in this program.
reason-device-gone = It is no longer connected to your account.
can-profiles = follow a charging schedule sent to it
can-start-stop = have its charging started and stopped remotely
can-max-current = have its charging current lowered remotely
can-everything = do everything the program needs
