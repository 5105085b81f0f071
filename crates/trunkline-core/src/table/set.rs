//! A prefix's candidates, one pointer wide.

use std::ops::Deref;
use std::sync::Arc;

use crate::route::Route;

/// The candidates for one prefix, best first (see [`crate::select::rank`]).
/// Cloning is O(1) and shares them. One pointer wide, since the index
/// holds one per prefix; a set of one route, the common case, is a single
/// allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSet(Arc<Candidates>);

#[derive(Debug, PartialEq, Eq)]
enum Candidates {
    One(Route),
    Many(Box<[Route]>),
}

impl RouteSet {
    /// The routes, to change in place, when no one else shares them.
    pub fn get_mut(&mut self) -> Option<&mut [Route]> {
        Arc::get_mut(&mut self.0).map(|c| match c {
            Candidates::One(r) => std::slice::from_mut(r),
            Candidates::Many(rs) => &mut rs[..],
        })
    }
}

impl Deref for RouteSet {
    type Target = [Route];

    #[inline]
    fn deref(&self) -> &[Route] {
        match &*self.0 {
            Candidates::One(r) => std::slice::from_ref(r),
            Candidates::Many(rs) => rs,
        }
    }
}

impl From<Route> for RouteSet {
    fn from(route: Route) -> RouteSet {
        RouteSet(Arc::new(Candidates::One(route)))
    }
}

impl From<Vec<Route>> for RouteSet {
    fn from(mut routes: Vec<Route>) -> RouteSet {
        match routes.len() {
            1 => RouteSet::from(routes.remove(0)),
            _ => RouteSet(Arc::new(Candidates::Many(routes.into_boxed_slice()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_one_pointer_and_one_route_one_allocation_of_40_bytes() {
        assert_eq!(size_of::<RouteSet>(), 8);
        assert_eq!(size_of::<Option<RouteSet>>(), 8);
        // Arc's two counts and the route: no larger than Arc<[Route]> was.
        assert_eq!(size_of::<Candidates>(), size_of::<Route>());
    }
}
