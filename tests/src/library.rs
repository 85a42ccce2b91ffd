//! The library service of the REST tests (`proto/trident/test/v1/library.proto`): each method echoes
//! what its request asked for, so a test sees how a URL, query and body were read. Shared by the REST
//! tests and the fuzz harness.

use trident::{Code, Error, Request, Response, ResponseStream, Streaming};

use crate::google_api::HttpBody;
use crate::proto::{
    Book, CreateBookRequest, DeleteBookRequest, DeleteBookResponse, GetBookRequest, LibraryService,
    ListBooksRequest, ListBooksResponse, ShelfEvent, UpdateBookRequest, UploadCoverRequest,
    WatchShelfRequest,
};

/// A library that echoes what each request asked for.
#[derive(Clone, Default)]
pub struct Library;

impl LibraryService for Library {
    async fn get_book(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Error> {
        let request = request.into_message();
        if request.name.ends_with("/missing") {
            return Err(
                Error::new(Code::NotFound, format!("no book {}", request.name)).with_detail(
                    &prost_types::Duration {
                        seconds: 1,
                        nanos: 0,
                    },
                ),
            );
        }
        let title = request
            .read_mask
            .map(|mask| mask.paths.join(","))
            .unwrap_or_default();
        Ok(Response::new(Book {
            name: request.name,
            title,
            ..Default::default()
        }))
    }

    async fn list_books(
        &self,
        request: Request<ListBooksRequest>,
    ) -> Result<Response<ListBooksResponse>, Error> {
        Ok(Response::new(ListBooksResponse {
            books: Vec::new(),
            request: Some(request.into_message()),
        }))
    }

    async fn create_book(
        &self,
        request: Request<CreateBookRequest>,
    ) -> Result<Response<Book>, Error> {
        let request = request.into_message();
        let mut book = request.book.unwrap_or_default();
        book.name = format!("{}/books/{}", request.parent, request.book_id);
        Ok(Response::new(book))
    }

    async fn update_book(
        &self,
        request: Request<UpdateBookRequest>,
    ) -> Result<Response<Book>, Error> {
        let request = request.into_message();
        let mut book = request.book.unwrap_or_default();
        book.tags = request.update_mask.map(|m| m.paths).unwrap_or_default();
        Ok(Response::new(book))
    }

    async fn delete_book(
        &self,
        request: Request<DeleteBookRequest>,
    ) -> Result<Response<DeleteBookResponse>, Error> {
        let request = request.into_message();
        Ok(Response::new(DeleteBookResponse { name: request.name }))
    }

    async fn publish_book(
        &self,
        request: Request<GetBookRequest>,
    ) -> Result<Response<Book>, Error> {
        Ok(Response::new(Book {
            name: request.into_message().name,
            title: "published".into(),
            ..Default::default()
        }))
    }

    async fn upload_cover(
        &self,
        request: Request<UploadCoverRequest>,
    ) -> Result<Response<HttpBody>, Error> {
        let request = request.into_message();
        let image = request.image.unwrap_or_default();
        Ok(Response::new(HttpBody {
            content_type: "text/plain".into(),
            data: format!(
                "{} got {} bytes of {}",
                request.name,
                image.data.len(),
                image.content_type
            )
            .into_bytes(),
            extensions: Vec::new(),
        }))
    }

    async fn get_cover(
        &self,
        request: Request<GetBookRequest>,
    ) -> Result<Response<HttpBody>, Error> {
        let _ = request;
        Ok(Response::new(HttpBody {
            content_type: "image/png".into(),
            data: vec![0x89, b'P', b'N', b'G', 0, 0xff],
            extensions: Vec::new(),
        }))
    }

    async fn watch_shelf(
        &self,
        request: Request<WatchShelfRequest>,
    ) -> Result<Response<ResponseStream<ShelfEvent>>, Error> {
        let request = request.into_message();
        let parent = request.parent.clone();
        let events = (0..request.count).map(move |index| {
            Ok(ShelfEvent {
                index,
                book: Some(Book {
                    name: format!("{parent}/books/{index}"),
                    ..Default::default()
                }),
            })
        });
        let failure = (request.fail_code != 0).then(|| {
            let code = Code::from_u32(request.fail_code).unwrap_or(Code::Unknown);
            Err(Error::new(code, "the shelf fell over"))
        });
        let stream: ResponseStream<ShelfEvent> =
            Box::pin(futures_util::stream::iter(events.chain(failure)));
        Ok(Response::new(stream))
    }

    async fn import_books(
        &self,
        request: Request<Streaming<CreateBookRequest>>,
    ) -> Result<Response<ListBooksResponse>, Error> {
        let _ = request;
        Ok(Response::new(ListBooksResponse::default()))
    }
}
